//! A checked [`Net`] to Rust: the generated type, its layout constants and its kernels.
//!
//! Generated code refers to the runtime only by absolute paths (`::vle::...`), is generic over
//! `T: ::vle::Scalar`, and loops over neurons with compile-time bounds. Per-neuron arithmetic
//! comes from the symbolic engine's [`Emitter`] (shared subexpressions as named `let`s).

use std::collections::{BTreeSet, HashSet};

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{format_ident, quote};

use crate::derive::{AdjointExprs, EulerAdjointExprs, EulerExprs, LocalExprs, RateExprs};
use crate::sym::{Emitter, Expr, Graph};
use crate::validate::{is_time_constant, Layer, Loss, Net, SourceKind};

/// Where everything lives in the flat slices.
pub struct Layout {
    /// The parameter tensors in offset order: per layer, its weights (one per source), its
    /// bias, then its neuron parameters.
    pub params: Vec<ParamEntry>,
    /// Length of the flat parameter vector (`Network::PARAMS`).
    pub n_params: usize,
    /// Per layer, per state: offset in the discrete state.
    pub s_off: Vec<Vec<usize>>,
    /// Per layer: offset of the prospective value.
    pub p_off: Vec<usize>,
    /// Length of the continuous state: every layer's ODE states, a prefix of the discrete
    /// state (`Network::CONT`).
    pub n_cont: usize,
    /// Length of the discrete state: the continuous state followed by every layer's carried
    /// prospective value (`Network::STATE`).
    pub n_state: usize,
    /// Per layer, per state: error-neuron state offset in the local state.
    pub v_off: Vec<Vec<usize>>,
    /// Per layer: offset of the local error ε (the error neuron's output) in the local state.
    pub eps_off: Vec<usize>,
    /// Per layer: offset in the local state of the error it receives from the layers it
    /// projects to, `g_r = −Σ Wᵀε` of their last step, sent with that step's weights (before
    /// the caller's update); `None` if no other layer reads it.
    pub fb_off: Vec<Option<usize>>,
    /// Per layer with a recurrent projection: offset of the error it sends itself through it.
    pub fb_rec_off: Vec<Option<usize>>,
    /// Length of the local-rule state: error-neuron states and ε of every layer, then the
    /// errors in transit (`fb_off`, `fb_rec_off`) (`Network::LOCAL`).
    pub n_local: usize,
    /// Per layer: offset of its neurons in the per-neuron error vectors (the `errors` of
    /// `adjoint_rhs`).
    pub err_off: Vec<usize>,
    /// Total number of neurons, the length of those vectors (`Network::NEURONS`).
    pub n_neurons: usize,
}

/// One parameter tensor of the flat parameter vector (emitted as a `::vle::ParamInfo`).
pub struct ParamEntry {
    /// Full name: `h1.W<-x`, `h1.b`, `h1.tau_m`.
    pub name: String,
    /// Index of the layer it belongs to.
    pub layer: usize,
    /// The symbol in the model: `W`, `b` or the neuron parameter's name.
    pub symbol: String,
    /// Weight, bias or neuron parameter.
    pub kind: EntryKind,
    /// Offset of its first entry.
    pub offset: usize,
    /// The layer's size (one row per postsynaptic neuron).
    pub rows: usize,
    /// The source's size for a weight, 1 otherwise; entry (i, j) is at `offset + i * cols + j`.
    pub cols: usize,
    /// Whether `learn` lists it.
    pub learnable: bool,
    /// Whether it is a time constant (name starting with `tau`).
    pub time_constant: bool,
    /// Declared values of a neuron parameter: one if all neurons share it, else one per
    /// neuron; empty for weights and biases.
    pub defaults: Vec<f64>,
    /// Name of the generated associated constant that holds `offset` (`W_H1_X`, `B_H1`,
    /// `H1_TAU_M`).
    pub konst: Ident,
}

/// What a [`ParamEntry`] is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// The weight matrix of a projection, by index into the layer's sources.
    Weight(usize),
    /// The layer's bias.
    Bias,
    /// A neuron parameter, by index into the layer's `sym.params`.
    Neuron(usize),
}

fn upper(s: &str) -> String {
    s.to_uppercase()
}

impl Layout {
    /// Lays out the parameters and the per-sample state slices of a checked network.
    pub fn new(net: &Net) -> Layout {
        let mut params = Vec::new();
        let mut off = 0;
        for (li, l) in net.layers.iter().enumerate() {
            for (si, src) in l.sources.iter().enumerate() {
                params.push(ParamEntry {
                    name: format!("{}.W<-{}", l.name, src.name),
                    layer: li,
                    symbol: "W".into(),
                    kind: EntryKind::Weight(si),
                    offset: off,
                    rows: l.size,
                    cols: src.size,
                    learnable: net.learn_weights,
                    time_constant: false,
                    defaults: Vec::new(),
                    konst: format_ident!("W_{}_{}", upper(&l.name), upper(&src.name)),
                });
                off += l.size * src.size;
            }
            if l.bias {
                params.push(ParamEntry {
                    name: format!("{}.b", l.name),
                    layer: li,
                    symbol: "b".into(),
                    kind: EntryKind::Bias,
                    offset: off,
                    rows: l.size,
                    cols: 1,
                    learnable: net.learn_biases,
                    time_constant: false,
                    defaults: Vec::new(),
                    konst: format_ident!("B_{}", upper(&l.name)),
                });
                off += l.size;
            }
            for (k, pname) in l.sym.params.iter().enumerate() {
                let vals = &l.values[k];
                let defaults = if vals.iter().all(|v| v.to_bits() == vals[0].to_bits()) {
                    vec![vals[0]]
                } else {
                    vals.clone()
                };
                params.push(ParamEntry {
                    name: format!("{}.{}", l.name, pname),
                    layer: li,
                    symbol: pname.clone(),
                    kind: EntryKind::Neuron(k),
                    offset: off,
                    rows: l.size,
                    cols: 1,
                    learnable: net.learn_params.contains(pname),
                    time_constant: is_time_constant(pname),
                    defaults,
                    konst: format_ident!("{}_{}", upper(&l.name), upper(pname)),
                });
                off += l.size;
            }
        }
        let mut s_off = Vec::new();
        let mut pos = 0;
        for l in &net.layers {
            let mut v = Vec::new();
            for _ in &l.sym.states {
                v.push(pos);
                pos += l.size;
            }
            s_off.push(v);
        }
        let n_cont = pos;
        let mut p_off = Vec::new();
        for l in &net.layers {
            p_off.push(pos);
            pos += l.size;
        }
        let n_state = pos;
        let mut v_off = Vec::new();
        let mut eps_off = Vec::new();
        let mut lpos = 0;
        for l in &net.layers {
            let mut v = Vec::new();
            for _ in &l.sym.states {
                v.push(lpos);
                lpos += l.size;
            }
            v_off.push(v);
            eps_off.push(lpos);
            lpos += l.size;
        }
        // The errors in transit follow, so the error neurons' offsets do not depend on them.
        let mut fb_off = Vec::new();
        let mut fb_rec_off = Vec::new();
        for (li, l) in net.layers.iter().enumerate() {
            let read = net.layers.iter().any(|m| {
                m.sources
                    .iter()
                    .any(|s| matches!(s.kind, SourceKind::Layer(j) if j == li))
            });
            fb_off.push(read.then_some(lpos));
            if read {
                lpos += l.size;
            }
            let rec = is_recurrent(l);
            fb_rec_off.push(rec.then_some(lpos));
            if rec {
                lpos += l.size;
            }
        }
        let mut err_off = Vec::new();
        let mut npos = 0;
        for l in &net.layers {
            err_off.push(npos);
            npos += l.size;
        }
        Layout {
            params,
            n_params: off,
            s_off,
            p_off,
            n_cont,
            n_state,
            v_off,
            eps_off,
            fb_off,
            fb_rec_off,
            n_local: lpos,
            err_off,
            n_neurons: npos,
        }
    }

    fn weight(&self, layer: usize, src: usize) -> &ParamEntry {
        self.params
            .iter()
            .find(|p| p.layer == layer && p.kind == EntryKind::Weight(src))
            .expect("every source has a weight entry")
    }
    fn bias(&self, layer: usize) -> Option<&ParamEntry> {
        self.params
            .iter()
            .find(|p| p.layer == layer && p.kind == EntryKind::Bias)
    }
    fn neuron_param(&self, layer: usize, k: usize) -> &ParamEntry {
        self.params
            .iter()
            .find(|p| p.layer == layer && p.kind == EntryKind::Neuron(k))
            .expect("every neuron parameter has an entry")
    }
}

fn lit(n: usize) -> Literal {
    Literal::usize_unsuffixed(n)
}

fn rate_ident(l: &Layer) -> Ident {
    format_ident!("rate_{}", l.name)
}
fn rate_dp_ident(l: &Layer) -> Ident {
    format_ident!("rate_dp_{}", l.name)
}
fn g_r_ident(l: &Layer) -> Ident {
    format_ident!("g_r_{}", l.name)
}

/// Rate sensitivity of a layer that arrives through its own (recurrent) projection.
fn g_rec_ident(l: &Layer) -> Ident {
    format_ident!("g_rec_{}", l.name)
}

fn is_recurrent(l: &Layer) -> bool {
    l.sources.iter().any(|s| s.kind == SourceKind::Recurrent)
}
fn adj_r_ident(l: &Layer) -> Ident {
    format_ident!("adj_rate_{}", l.name)
}

/// `row_<name>`: a row slice of a batch kernel (the prefix `row_` is reserved, so these never
/// alias a neuron's own names).
fn row_ident(name: &str) -> Ident {
    format_ident!("row_{}", name)
}

/// Binds `rows` (name, offset from `base`, length) of `slice` as slices of exact, constant
/// length, so that a loop `for i in 0..len` over them has no bounds checks and vectorises.
/// Mutable rows are split off one another (they must be disjoint).
fn bind_rows(
    slice: &TokenStream,
    base: &TokenStream,
    mut rows: Vec<(Ident, usize, usize)>,
    mutable: bool,
) -> TokenStream {
    let at = |off: usize| {
        if off == 0 {
            quote!(#base)
        } else {
            let o = lit(off);
            quote!(#base + #o)
        }
    };
    if !mutable {
        let binds = rows.iter().map(|(id, off, len)| {
            let (a, e) = (at(*off), at(off + len));
            quote!(let #id = &#slice[#a..#e];)
        });
        return quote!(#(#binds)*);
    }
    rows.sort_by_key(|r| r.1);
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return quote!();
    };
    let (a, e) = (at(first.1), at(last.1 + last.2));
    let mut out = vec![quote!(let rest = &mut #slice[#a..#e];)];
    let mut pos = first.1;
    for (id, off, len) in &rows {
        if *off > pos {
            let gap = lit(off - pos);
            out.push(quote!(let (_, rest) = rest.split_at_mut(#gap);));
        }
        let l = lit(*len);
        out.push(quote!(let (#id, rest) = rest.split_at_mut(#l);));
        pos = off + len;
    }
    out.push(quote!(let _ = rest;));
    quote!(#(#out)*)
}

/// Every identifier in `tokens` (for the "does this code mention it" questions of
/// [`Neurons`], asked many times of one loop).
fn idents(tokens: &TokenStream) -> HashSet<String> {
    fn walk(tokens: &TokenStream, out: &mut HashSet<String>) {
        for t in tokens.clone() {
            match t {
                proc_macro2::TokenTree::Ident(i) => {
                    out.insert(i.to_string());
                }
                proc_macro2::TokenTree::Group(g) => walk(&g.stream(), out),
                _ => {}
            }
        }
    }
    let mut out = HashSet::new();
    walk(tokens, &mut out);
    out
}

/// The per-neuron loops of one batch kernel, emitted as nested functions, one call per layer
/// (the loop over the batch's samples inside, the layer's offsets as arguments). Layers whose
/// loops are token for token the same (same neuron, activation and size) share one function,
/// so a deep stack of equal layers compiles its neuron arithmetic once: the compile cost of a
/// model grows with its distinct layers, not with its depth.
#[derive(Default)]
struct Neurons {
    fns: Vec<NeuronFn>,
}

struct NeuronFn {
    /// The signature and body as text: equal keys are one function.
    key: String,
    name: Ident,
    what: &'static str,
    layers: Vec<String>,
    item: TokenStream,
}

/// A parameter of a nested neuron function: its name and type, and what the kernel passes.
struct Arg {
    id: Ident,
    ty: TokenStream,
    value: TokenStream,
}

fn arg(id: &str, ty: TokenStream, value: TokenStream) -> Arg {
    Arg {
        id: Ident::new(id, Span::call_site()),
        ty,
        value,
    }
}

/// What a nested neuron function is given ([`Arg`]s) and the per-sample rows it binds from
/// them (name, written?), which its innermost function takes as parameters.
#[derive(Default)]
struct Bound {
    args: Vec<Arg>,
    rows: Vec<(Ident, bool)>,
}

impl Bound {
    fn push(&mut self, a: Arg) {
        self.args.push(a);
    }

    fn row(&mut self, id: &Ident, written: bool) {
        self.rows.push((id.clone(), written));
    }
}

/// Binds `rows` (`row_<name>`, the argument holding its offset from `base`) of one sample's
/// part of `slice`, each `n` long. Mutable rows are split off one another in the given order,
/// which must be the order of their offsets (the layout's).
fn bind_rows_at(
    slice: &Ident,
    base: &TokenStream,
    rows: &[(Ident, Ident)],
    n: usize,
    mutable: bool,
) -> TokenStream {
    let nl = lit(n);
    if !mutable {
        let binds = rows
            .iter()
            .map(|(id, o)| quote!(let #id = &#slice[#base + #o..#base + #o + #nl];));
        return quote!(#(#binds)*);
    }
    let Some((_, o0)) = rows.first() else {
        return quote!();
    };
    let mut out = vec![quote!(let rest = &mut #slice[#base + #o0..];)];
    let mut prev: Option<&Ident> = None;
    for (id, o) in rows {
        if let Some(po) = prev {
            out.push(quote!(let (_, rest) = rest.split_at_mut(#o - #po - #nl);));
        }
        out.push(quote!(let (#id, rest) = rest.split_at_mut(#nl);));
        prev = Some(o);
    }
    out.push(quote!(let _ = rest;));
    quote!(#(#out)*)
}

impl Neurons {
    /// A call of the function that runs `body` (the loop over a batch's samples and the
    /// neurons of layer `layer`), declared with those of `args` that `body` mentions; the
    /// call passes their values.
    fn call(
        &mut self,
        what: &'static str,
        layer: &str,
        args: Vec<Arg>,
        body: TokenStream,
    ) -> TokenStream {
        let ids = idents(&body);
        let mut used: Vec<Arg> = Vec::new();
        for a in args {
            match used.iter().find(|u| u.id == a.id) {
                // The same offset named twice (a state's and a layer's row at one offset).
                Some(u) if u.value.to_string() == a.value.to_string() => {}
                Some(_) => {
                    let msg = format!("vle internal error: two values for `{}`", a.id);
                    return quote!(compile_error!(#msg););
                }
                None if ids.contains(&a.id.to_string()) => used.push(a),
                None => {}
            }
        }
        let decl = used.iter().map(|a| {
            let (id, ty) = (&a.id, &a.ty);
            quote!(#id: #ty)
        });
        let item = quote! {
            <T: ::vle::Scalar>(#(#decl),*) {
                #body
            }
        };
        let key = format!("{what} {item}");
        let name = match self.fns.iter_mut().find(|f| f.key == key) {
            Some(f) => {
                f.layers.push(layer.to_string());
                f.name.clone()
            }
            None => {
                let name = format_ident!("{}_{}", what, layer);
                self.fns.push(NeuronFn {
                    key,
                    name: name.clone(),
                    what,
                    layers: vec![layer.to_string()],
                    item,
                });
                name
            }
        };
        let values = used.iter().map(|a| &a.value);
        quote!(#name(#(#values),*);)
    }

    /// The functions called since the last `take`, each documented with its layers.
    fn take(&mut self) -> TokenStream {
        let items = self.fns.drain(..).map(|f| {
            let what = match f.what {
                "rates" => "Rates (and R'(p)) from the carried prospective values",
                "euler" => "Euler step",
                "adjoint" => "Reverse mode of the Euler step",
                "adjoint_rates" => "Reverse mode of the rates",
                _ => "Error neuron, local updates and nudged Euler step",
            };
            let doc = format!(
                " {what} of every sample's neurons in layer{} `{}`.",
                if f.layers.len() > 1 { "s" } else { "" },
                f.layers.join("`, `")
            );
            let (name, item) = (f.name, f.item);
            quote! {
                #[doc = #doc]
                #[inline(never)]
                fn #name #item
            }
        });
        quote!(#(#items)*)
    }
}

/// Generates everything for a checked network.
pub struct Generator<'n> {
    net: &'n mut Net,
    layout: Layout,
    /// The per-neuron loops of the batch kernel being generated.
    neurons: Neurons,
}

/// What a variable of a neuron expression is read from.
type Sources = Vec<(String, TokenStream)>;

/// Binds the free variables of `outputs` (looked up in `sources`) as `let`s and emits the
/// outputs; the statements and the output values are returned.
fn emit_block(
    g: &Graph,
    sources: &Sources,
    hints: &[(Expr, &str)],
    outputs: &[(&str, Expr)],
) -> (TokenStream, Vec<TokenStream>) {
    let mut free = BTreeSet::new();
    for &(_, e) in outputs {
        free.extend(g.free_vars(e));
    }
    let mut em = Emitter::new(g);
    let mut lets = Vec::new();
    for (name, tok) in sources {
        if free.contains(name) {
            let id = Ident::new(name, Span::call_site());
            lets.push(quote!(let #id = #tok;));
            em.bind(name, quote!(#id));
        }
    }
    for &(e, h) in hints {
        em.hint(e, h);
    }
    // Every free variable is bound above by construction (validation guarantees the sets).
    let (stmts, values) = match em.emit(outputs) {
        Ok(v) => v,
        Err(name) => {
            let outs: Vec<&str> = outputs.iter().map(|o| o.0).collect();
            let msg = format!("vle internal error: unbound symbol `{name}` in {outs:?}");
            return (
                quote!(compile_error!(#msg);),
                outputs.iter().map(|_| quote!(T::zero())).collect(),
            );
        }
    };
    (quote!(#(#lets)* #(#stmts)*), values)
}

impl<'n> Generator<'n> {
    /// A generator for `net`, with its [`Layout`] computed.
    pub fn new(net: &'n mut Net) -> Self {
        let layout = Layout::new(net);
        Generator {
            net,
            layout,
            neurons: Neurons::default(),
        }
    }

    fn c(&self, id: &Ident) -> TokenStream {
        quote!(Self::#id)
    }

    /// Variable sources common to every per-neuron loop of layer `li`: states from `state`,
    /// parameters from `params`, the carried prospective `p`.
    fn neuron_sources(&self, li: usize, state: &str) -> Sources {
        let l = &self.net.layers[li];
        let st = Ident::new(state, Span::call_site());
        let mut v: Sources = Vec::new();
        for (k, s) in l.sym.states.iter().enumerate() {
            let off = lit(self.layout.s_off[li][k]);
            v.push((s.clone(), quote!(#st[#off + i])));
        }
        for k in 0..l.sym.params.len() {
            let e = self.layout.neuron_param(li, k);
            let c = self.c(&e.konst);
            v.push((e.symbol.clone(), quote!(params[#c + i])));
        }
        let poff = lit(self.layout.p_off[li]);
        v.push(("p".into(), quote!(#st[#poff + i])));
        v.push(("input".into(), quote!(input)));
        v.push(("dt".into(), quote!(dt)));
        v
    }

    /// `let mut input = b_i + Σ_j W_ij r_j` for neuron `i` of layer `li`, reading presynaptic
    /// rates from the arrays `rate_<layer>` (and the input slice `x`).
    fn synaptic_input(&self, li: usize) -> TokenStream {
        let l = &self.net.layers[li];
        let init = match self.layout.bias(li) {
            Some(b) => {
                let c = self.c(&b.konst);
                quote!(params[#c + i])
            }
            None => quote!(T::zero()),
        };
        let mut sum = Vec::new();
        for (si, src) in l.sources.iter().enumerate() {
            let w = self.c(&self.layout.weight(li, si).konst);
            let ns = lit(src.size);
            let r = self.src_rates(li, si);
            sum.push(quote! {
                input += ::vle::kernels::dot(&params[#w + i * #ns..#w + (i + 1) * #ns], &#r[..]);
            });
        }
        quote! {
            let mut input = #init;
            #(#sum)*
        }
    }

    fn src_rates(&self, li: usize, si: usize) -> TokenStream {
        let src = &self.net.layers[li].sources[si];
        match src.kind {
            SourceKind::Input => quote!(x),
            SourceKind::Layer(k) => {
                let r = rate_ident(&self.net.layers[k]);
                quote!(#r)
            }
            SourceKind::Recurrent => {
                let r = rate_ident(&self.net.layers[li]);
                quote!(#r)
            }
        }
    }

    /// Rates (and R'(p)) of every layer from the carried prospective values in `state`.
    fn all_rates(&mut self, with_derivative: bool) -> TokenStream {
        let mut out = Vec::new();
        for li in 0..self.net.layers.len() {
            let sources = self.neuron_sources(li, "state");
            let l = &mut self.net.layers[li];
            let n = lit(l.size);
            let rid = rate_ident(l);
            let did = rate_dp_ident(l);
            let re: RateExprs = l.sym.rate_exprs();
            let mut outputs = vec![("r", re.r)];
            if with_derivative {
                outputs.push(("r_dp", re.r_dp));
            }
            let (stmts, vals) = emit_block(&l.sym.g, &sources, &[], &outputs);
            let r = &vals[0];
            if with_derivative {
                let d = &vals[1];
                out.push(quote! {
                    let mut #rid = [T::zero(); #n];
                    let mut #did = [T::zero(); #n];
                    for i in 0..#n {
                        #stmts
                        #rid[i] = #r;
                        #did[i] = #d;
                    }
                });
            } else {
                out.push(quote! {
                    let mut #rid = [T::zero(); #n];
                    for i in 0..#n {
                        #stmts
                        #rid[i] = #r;
                    }
                });
            }
        }
        quote!(#(#out)*)
    }

    fn euler_step(&mut self) -> TokenStream {
        let rates = self.all_rates(false);
        let mut layers = Vec::new();
        for li in 0..self.net.layers.len() {
            let sources = self.neuron_sources(li, "state");
            let input = self.synaptic_input(li);
            let l = &mut self.net.layers[li];
            let fwd: EulerExprs = l.sym.euler();
            let n = lit(l.size);
            let names: Vec<String> = l.sym.states.iter().map(|s| format!("next_{s}")).collect();
            let mut outputs: Vec<(&str, Expr)> = names
                .iter()
                .map(|s| s.as_str())
                .zip(fwd.s_next.iter().copied())
                .collect();
            outputs.push(("next_p", fwd.p_next));
            let (stmts, vals) = emit_block(&l.sym.g, &sources, &[], &outputs);
            let mut writes = Vec::new();
            for (k, v) in vals.iter().take(l.sym.states.len()).enumerate() {
                let off = lit(self.layout.s_off[li][k]);
                writes.push(quote!(state[#off + i] = #v;));
            }
            let poff = lit(self.layout.p_off[li]);
            let pv = &vals[l.sym.states.len()];
            let comment = format!(" layer `{}` ({})", l.name, l.sym.neuron);
            layers.push(quote! {
                #[doc = #comment]
                for i in 0..#n {
                    #input
                    #stmts
                    #(#writes)*
                    state[#poff + i] = #pv;
                }
            });
        }
        quote! {
            // Layer-synchronous: every layer reads the rates of the previous step.
            #rates
            #(#layers)*
        }
    }

    fn euler_step_adjoint(&mut self) -> TokenStream {
        let rates = self.all_rates(true);
        let mut decls = Vec::new();
        for l in &self.net.layers {
            let a = adj_r_ident(l);
            let n = lit(l.size);
            decls.push(quote!(let mut #a = [T::zero(); #n];));
        }
        let mut layers = Vec::new();
        for li in 0..self.net.layers.len() {
            let mut sources = self.neuron_sources(li, "state");
            let input = self.synaptic_input(li);
            let (w_entries, b_entry, theta_entries) = self.param_entries(li);
            let l = &mut self.net.layers[li];
            let fwd = l.sym.euler();
            let adj: EulerAdjointExprs = l.sym.euler_adjoint(&fwd);
            for (k, s) in l.sym.states.iter().enumerate() {
                let off = lit(self.layout.s_off[li][k]);
                sources.push((format!("adj_{s}"), quote!(adj_next[#off + i])));
            }
            let poff = lit(self.layout.p_off[li]);
            sources.push(("adj_p".into(), quote!(adj_next[#poff + i])));
            let names_s: Vec<String> = l
                .sym
                .states
                .iter()
                .map(|s| format!("adj_prev_{s}"))
                .collect();
            let names_t: Vec<String> = l.sym.params.iter().map(|s| format!("grad_{s}")).collect();
            let mut outputs: Vec<(&str, Expr)> = names_s
                .iter()
                .map(|s| s.as_str())
                .zip(adj.a_s.iter().copied())
                .collect();
            outputs.push(("adj_input", adj.a_input));
            outputs.extend(
                names_t
                    .iter()
                    .map(|s| s.as_str())
                    .zip(adj.a_theta.iter().copied()),
            );
            let (stmts, vals) = emit_block(&l.sym.g, &sources, &[], &outputs);
            let ns = l.sym.states.len();
            let mut writes = Vec::new();
            for k in 0..ns {
                let off = lit(self.layout.s_off[li][k]);
                let v = &vals[k];
                writes.push(quote!(adj_prev[#off + i] = #v;));
            }
            let a_in = &vals[ns];
            for (k, e) in theta_entries.iter().enumerate() {
                let v = &vals[ns + 1 + k];
                writes.push(quote!(grad[#e + i] += #v;));
            }
            if let Some(b) = &b_entry {
                writes.push(quote!(grad[#b + i] += #a_in;));
            }
            for (si, w) in w_entries.iter().enumerate() {
                let src = &l.sources[si];
                let nsrc = lit(src.size);
                let (r, back) = match src.kind {
                    SourceKind::Input => (quote!(x), quote!()),
                    SourceKind::Layer(_) | SourceKind::Recurrent => {
                        let r = format_ident!("rate_{}", src.name);
                        let a = format_ident!("adj_rate_{}", src.name);
                        (
                            quote!(#r),
                            quote!(::vle::kernels::axpy(#a_in, &params[#w + i * #nsrc..#w + (i + 1) * #nsrc], &mut #a[..]);),
                        )
                    }
                };
                writes.push(quote! {
                    ::vle::kernels::axpy(#a_in, &#r[..], &mut grad[#w + i * #nsrc..#w + (i + 1) * #nsrc]);
                    #back
                });
            }
            let n = lit(l.size);
            let comment = format!(" layer `{}`: reverse mode of its Euler step", l.name);
            layers.push(quote! {
                #[doc = #comment]
                for i in 0..#n {
                    #input
                    #stmts
                    #(#writes)*
                }
            });
        }
        // Rates were read from the carried prospective values: chain into adj_prev and grad.
        let mut chain = Vec::new();
        for li in 0..self.net.layers.len() {
            let sources = self.neuron_sources(li, "state");
            let theta_entries = self.param_entries(li).2;
            let l = &mut self.net.layers[li];
            let re = l.sym.rate_exprs();
            let names: Vec<String> = l.sym.params.iter().map(|s| format!("rate_d_{s}")).collect();
            let mut outputs: Vec<(&str, Expr)> = Vec::new();
            let mut entries = Vec::new();
            for (k, name) in names.iter().enumerate() {
                if !l.sym.g.is_zero(re.r_dtheta[k]) {
                    outputs.push((name.as_str(), re.r_dtheta[k]));
                    entries.push(theta_entries[k].clone());
                }
            }
            let (stmts, vals) = emit_block(&l.sym.g, &sources, &[], &outputs);
            let a = adj_r_ident(l);
            let d = rate_dp_ident(l);
            let poff = lit(self.layout.p_off[li]);
            let n = lit(l.size);
            let grads = entries
                .iter()
                .zip(&vals)
                .map(|(e, v)| quote!(grad[#e + i] += #a[i] * #v;));
            chain.push(quote! {
                for i in 0..#n {
                    #stmts
                    adj_prev[#poff + i] = #a[i] * #d[i];
                    #(#grads)*
                }
            });
        }
        quote! {
            #rates
            #(#decls)*
            #(#layers)*
            #(#chain)*
        }
    }

    /// Offsets (as `Self::CONST` tokens) of a layer's weights, bias and neuron parameters.
    fn param_entries(
        &self,
        li: usize,
    ) -> (Vec<TokenStream>, Option<TokenStream>, Vec<TokenStream>) {
        let l = &self.net.layers[li];
        let w = (0..l.sources.len())
            .map(|si| self.c(&self.layout.weight(li, si).konst))
            .collect();
        let b = self.layout.bias(li).map(|b| self.c(&b.konst));
        let t = (0..l.sym.params.len())
            .map(|k| self.c(&self.layout.neuron_param(li, k).konst))
            .collect();
        (w, b, t)
    }

    /// Output rates of the output layer into `r_out` (an array), from `state`.
    fn output_rates(&mut self) -> TokenStream {
        let li = self.net.output;
        let sources = self.neuron_sources(li, "state");
        let l = &mut self.net.layers[li];
        let re = l.sym.rate_exprs();
        let (stmts, vals) = emit_block(&l.sym.g, &sources, &[], &[("r", re.r), ("r_dp", re.r_dp)]);
        let n = lit(l.size);
        let (r, d) = (&vals[0], &vals[1]);
        quote! {
            let mut r_out = [T::zero(); #n];
            let mut r_out_dp = [T::zero(); #n];
            for i in 0..#n {
                #stmts
                r_out[i] = #r;
                r_out_dp[i] = #d;
            }
        }
    }

    /// `let loss = ℓ(r_out, y);` and, if `grad`, `let mut dloss = [∂ℓ/∂r_i];`.
    fn loss_code(&self, grad: bool) -> TokenStream {
        let n = lit(self.net.layers[self.net.output].size);
        match &self.net.loss {
            Loss::Mse => {
                let g = if grad {
                    quote! {
                        let mut dloss = [T::zero(); #n];
                        for i in 0..#n { dloss[i] = r_out[i] - y[i]; }
                    }
                } else {
                    quote!()
                };
                quote! {
                    let mut loss = T::zero();
                    for i in 0..#n {
                        let diff = r_out[i] - y[i];
                        loss += T::from_f64(0.5) * diff * diff;
                    }
                    #g
                }
            }
            Loss::CrossEntropy => {
                let g = if grad {
                    quote! {
                        let mut dloss = [T::zero(); #n];
                        for i in 0..#n { dloss[i] = y_total * (r_out[i] - log_norm).exp() - y[i]; }
                    }
                } else {
                    quote!()
                };
                quote! {
                    // ln Σ exp(r), shifted by the maximum for stability.
                    let mut r_max = r_out[0];
                    for i in 1..#n {
                        if r_out[i].to_f64() > r_max.to_f64() { r_max = r_out[i]; }
                    }
                    let mut norm = T::zero();
                    for i in 0..#n { norm += (r_out[i] - r_max).exp(); }
                    let log_norm = r_max + norm.ln();
                    let mut loss = T::zero();
                    let mut y_total = T::zero();
                    for i in 0..#n {
                        loss += y[i] * (log_norm - r_out[i]);
                        y_total += y[i];
                    }
                    let _ = y_total;
                    #g
                }
            }
            Loss::Sum {
                g, expr, d_expr, ..
            } => {
                let sources: Sources =
                    vec![("r".into(), quote!(r_out[i])), ("y".into(), quote!(y[i]))];
                let (stmts, vals) = emit_block(g, &sources, &[], &[("term", *expr)]);
                let v = &vals[0];
                let gcode = if grad {
                    let (gs, gv) = emit_block(g, &sources, &[], &[("dterm", *d_expr)]);
                    let gv = &gv[0];
                    quote! {
                        let mut dloss = [T::zero(); #n];
                        for i in 0..#n { #gs dloss[i] = #gv; }
                    }
                } else {
                    quote!()
                };
                quote! {
                    let mut loss = T::zero();
                    for i in 0..#n { #stmts loss += #v; }
                    #gcode
                }
            }
        }
    }

    fn loss_adjoint(&mut self) -> TokenStream {
        let out = self.output_rates();
        let loss = self.loss_code(true);
        let li = self.net.output;
        let sources = self.neuron_sources(li, "state");
        let theta_entries = self.param_entries(li).2;
        let l = &mut self.net.layers[li];
        let re = l.sym.rate_exprs();
        let names: Vec<String> = l.sym.params.iter().map(|s| format!("rate_d_{s}")).collect();
        let mut outputs = Vec::new();
        let mut entries = Vec::new();
        for (k, name) in names.iter().enumerate() {
            if !l.sym.g.is_zero(re.r_dtheta[k]) {
                outputs.push((name.as_str(), re.r_dtheta[k]));
                entries.push(theta_entries[k].clone());
            }
        }
        let (stmts, vals) = emit_block(&l.sym.g, &sources, &[], &outputs);
        let poff = lit(self.layout.p_off[li]);
        let n = lit(l.size);
        let grads = entries
            .iter()
            .zip(&vals)
            .map(|(e, v)| quote!(grad[#e + i] += scale * dloss[i] * #v;));
        quote! {
            #out
            #loss
            for i in 0..#n {
                #stmts
                adj[#poff + i] += scale * dloss[i] * r_out_dp[i];
                #(#grads)*
            }
            loss
        }
    }

    /// The continuous chain: per layer, input, ṡ and the instantaneous prospective and rate.
    /// Writes `dc` (if `write_dc`) and `state[P + i]` (if `write_p`). Rates go to `rate_<layer>`.
    fn continuous_chain(&mut self, state: &str, write_dc: bool, write_p: bool) -> TokenStream {
        let mut out = Vec::new();
        for li in 0..self.net.layers.len() {
            let sources = self.neuron_sources(li, state);
            let input = self.synaptic_input(li);
            let l = &mut self.net.layers[li];
            let (f, p_cont) = l.sym.continuous();
            let rate_of = {
                let r = l.sym.rate;
                let pv = l.sym.p;
                l.sym.g.subs(r, &[(pv, p_cont)])
            };
            let names: Vec<String> = l.sym.states.iter().map(|s| format!("d_{s}_dt")).collect();
            let mut outputs: Vec<(&str, Expr)> = names
                .iter()
                .map(|s| s.as_str())
                .zip(f.iter().copied())
                .collect();
            outputs.push(("prospective", p_cont));
            outputs.push(("r", rate_of));
            let (stmts, vals) = emit_block(&l.sym.g, &sources, &[], &outputs);
            let ns = l.sym.states.len();
            let mut writes = Vec::new();
            if write_dc {
                for k in 0..ns {
                    let off = lit(self.layout.s_off[li][k]);
                    let v = &vals[k];
                    writes.push(quote!(dc[#off + i] = #v;));
                }
            }
            if write_p {
                let poff = lit(self.layout.p_off[li]);
                let v = &vals[ns];
                writes.push(quote!(state[#poff + i] = #v;));
            }
            let rid = rate_ident(l);
            let r = &vals[ns + 1];
            let n = lit(l.size);
            let decl = quote!(let mut #rid = [T::zero(); #n];);
            out.push(quote! {
                #decl
                for i in 0..#n {
                    #input
                    #stmts
                    #(#writes)*
                    #rid[i] = #r;
                }
            });
        }
        quote!(#(#out)*)
    }

    fn is_continuous(&self) -> bool {
        !self
            .net
            .layers
            .iter()
            .any(|l| l.sources.iter().any(|s| s.kind == SourceKind::Recurrent))
    }

    fn adjoint_rhs(&mut self) -> TokenStream {
        let forward = self.continuous_chain("c", false, false);
        let nl = self.net.layers.len();
        let mut decls = Vec::new();
        for l in &self.net.layers {
            let g = g_r_ident(l);
            let n = lit(l.size);
            decls.push(quote!(let mut #g = [T::zero(); #n];));
        }
        // The loss enters the output layer's rate sensitivity.
        let out_l = &self.net.layers[self.net.output];
        let out_rates = rate_ident(out_l);
        let out_g = g_r_ident(out_l);
        let n_out = lit(out_l.size);
        let loss = self.loss_code(true);
        let mut backward = Vec::new();
        for li in (0..nl).rev() {
            let mut sources = self.neuron_sources(li, "c");
            let input = self.synaptic_input(li);
            let (w_entries, b_entry, theta_entries) = self.param_entries(li);
            let l = &mut self.net.layers[li];
            let Some(adj): Option<AdjointExprs> = l.sym.adjoint() else {
                continue;
            };
            for (k, s) in l.sym.states.iter().enumerate() {
                let off = lit(self.layout.s_off[li][k]);
                sources.push((format!("costate_{s}"), quote!(costate[#off + i])));
            }
            let gid = g_r_ident(l);
            sources.push(("g_r".into(), quote!(#gid[i])));
            let names_dp: Vec<String> = l
                .sym
                .states
                .iter()
                .map(|s| format!("d_costate_{s}"))
                .collect();
            let names_t: Vec<String> = l.sym.params.iter().map(|s| format!("grad_{s}")).collect();
            let mut outputs: Vec<(&str, Expr)> = names_dp
                .iter()
                .map(|s| s.as_str())
                .zip(adj.d_costate.iter().copied())
                .collect();
            outputs.push(("q", adj.q));
            outputs.extend(
                names_t
                    .iter()
                    .map(|s| s.as_str())
                    .zip(adj.grad_theta.iter().copied()),
            );
            let hints: Vec<(Expr, &str)> = adj
                .lambda
                .iter()
                .zip(&l.sym.mismatch_names)
                .map(|(&e, n)| (e, n.as_str()))
                .collect();
            let (stmts, vals) = emit_block(&l.sym.g, &sources, &hints, &outputs);
            let ns = l.sym.states.len();
            let mut writes = Vec::new();
            for k in 0..ns {
                let off = lit(self.layout.s_off[li][k]);
                let v = &vals[k];
                writes.push(quote!(dcostate[#off + i] = #v;));
            }
            let q = &vals[ns];
            let eoff = lit(self.layout.err_off[li]);
            writes.push(quote!(errors[#eoff + i] = -#q;));
            for (k, e) in theta_entries.iter().enumerate() {
                let v = &vals[ns + 1 + k];
                writes.push(quote!(grad_density[#e + i] = #v;));
            }
            if let Some(b) = &b_entry {
                writes.push(quote!(grad_density[#b + i] = #q;));
            }
            for (si, w) in w_entries.iter().enumerate() {
                let src = &l.sources[si];
                let nsrc = lit(src.size);
                let (r, back) = match src.kind {
                    SourceKind::Input => (quote!(x), quote!()),
                    SourceKind::Layer(_) | SourceKind::Recurrent => {
                        let name = src.name.clone();
                        let r = format_ident!("rate_{}", name);
                        let g = format_ident!("g_r_{}", name);
                        (
                            quote!(#r),
                            quote!(::vle::kernels::axpy(#q, &params[#w + i * #nsrc..#w + (i + 1) * #nsrc], &mut #g[..]);),
                        )
                    }
                };
                writes.push(quote! {
                    ::vle::kernels::scale_into(#q, &#r[..], &mut grad_density[#w + i * #nsrc..#w + (i + 1) * #nsrc]);
                    #back
                });
            }
            let n = lit(l.size);
            let comment = format!(" layer `{}`: exact adjoint", l.name);
            backward.push(quote! {
                #[doc = #comment]
                for i in 0..#n {
                    #input
                    #stmts
                    #(#writes)*
                }
            });
        }
        quote! {
            #forward
            #(#decls)*
            {
                let r_out = &#out_rates;
                #loss
                let _ = loss;
                for i in 0..#n_out { #out_g[i] += beta * dloss[i]; }
            }
            #(#backward)*
        }
    }

    fn online_step(&mut self) -> TokenStream {
        let rates = self.all_rates(true);
        let nl = self.net.layers.len();
        // g_r: the error in transit from the layers above, sent in the previous step (one step
        // of delay); what arrives through a recurrent projection is kept apart (see
        // `NeuronSym::local`).
        let mut decls = Vec::new();
        for li in 0..nl {
            let n = lit(self.net.layers[li].size);
            for (g, off) in self.transit_slots(li) {
                decls.push(match off {
                    Some(o) => {
                        let o = lit(o);
                        quote! {
                            let mut #g = [T::zero(); #n];
                            #g.copy_from_slice(&local[#o..#o + #n]);
                        }
                    }
                    // The output's g_r receives the loss below.
                    None if li == self.net.output => quote!(let mut #g = [T::zero(); #n];),
                    None => quote!(let #g = [T::zero(); #n];),
                });
            }
        }
        let out_l = &self.net.layers[self.net.output];
        let out_rates = rate_ident(out_l);
        let out_g = g_r_ident(out_l);
        let n_out = lit(out_l.size);
        let loss = self.loss_code(true);
        let mut layers = Vec::new();
        let mut with_local = Vec::new();
        for li in 0..nl {
            let mut sources = self.neuron_sources(li, "state");
            let input = self.synaptic_input(li);
            let (w_entries, b_entry, theta_entries) = self.param_entries(li);
            let fwd_sources = sources.clone();
            let l = &mut self.net.layers[li];
            let recurrent = is_recurrent(l);
            let Some(loc): Option<LocalExprs> = l.sym.local(recurrent) else {
                continue;
            };
            with_local.push(li);
            if recurrent {
                let grec = g_rec_ident(l);
                sources.push(("g_r_rec".into(), quote!(#grec[i])));
            }
            for (k, s) in l.sym.states.iter().enumerate() {
                let off = lit(self.layout.v_off[li][k]);
                sources.push((format!("v_{s}"), quote!(local[#off + i])));
            }
            let gid = g_r_ident(l);
            sources.push(("g_r".into(), quote!(#gid[i])));
            let names_dv: Vec<String> = l.sym.states.iter().map(|s| format!("d_v_{s}")).collect();
            let names_t: Vec<String> = l.sym.params.iter().map(|s| format!("grad_{s}")).collect();
            let mut outputs: Vec<(&str, Expr)> = names_dv
                .iter()
                .map(|s| s.as_str())
                .zip(loc.dv.iter().copied())
                .collect();
            outputs.push(("eps", loc.eps));
            outputs.extend(
                names_t
                    .iter()
                    .map(|s| s.as_str())
                    .zip(loc.grad_theta.iter().copied()),
            );
            // R'(p) was computed with the rates: read it instead of recomputing it.
            let rate_dp_node = l.sym.g.diff(l.sym.rate, l.sym.p);
            let rate_dp_var = l.sym.g.var("rate_dp");
            let swap = [(rate_dp_node, rate_dp_var)];
            let outputs: Vec<(&str, Expr)> = outputs
                .into_iter()
                .map(|(n, e)| (n, l.sym.g.subs(e, &swap)))
                .collect();
            let e_hat = l.sym.g.subs(loc.e_hat, &swap);
            let did = rate_dp_ident(l);
            sources.push(("rate_dp".into(), quote!(#did[i])));
            let hints = [(e_hat, "e_hat")];
            let (stmts, vals) = emit_block(&l.sym.g, &sources, &hints, &outputs);
            let ns = l.sym.states.len();
            let mut writes = Vec::new();
            for k in 0..ns {
                let off = lit(self.layout.v_off[li][k]);
                let v = &vals[k];
                writes.push(quote!(local[#off + i] += dt * #v;));
            }
            let eps = &vals[ns];
            let eoff = lit(self.layout.eps_off[li]);
            writes.push(quote!(local[#eoff + i] = #eps;));
            for (k, e) in theta_entries.iter().enumerate() {
                if l.sym.g.is_zero(loc.grad_theta[k]) {
                    continue;
                }
                let v = &vals[ns + 1 + k];
                writes.push(quote!(grad[#e + i] += dt * #v;));
            }
            if let Some(b) = &b_entry {
                writes.push(quote!(grad[#b + i] -= dt * #eps;));
            }
            for (si, w) in w_entries.iter().enumerate() {
                let src = &l.sources[si];
                let nsrc = lit(src.size);
                let r = match src.kind {
                    SourceKind::Input => quote!(x),
                    _ => {
                        let r = format_ident!("rate_{}", src.name);
                        quote!(#r)
                    }
                };
                writes.push(quote! {
                    ::vle::kernels::axpy(-(dt * #eps), &#r[..], &mut grad[#w + i * #nsrc..#w + (i + 1) * #nsrc]);
                });
            }
            // Forward Euler step with the nudged input.
            let fwd = l.sym.euler();
            let names: Vec<String> = l.sym.states.iter().map(|s| format!("next_{s}")).collect();
            let mut f_out: Vec<(&str, Expr)> = names
                .iter()
                .map(|s| s.as_str())
                .zip(fwd.s_next.iter().copied())
                .collect();
            f_out.push(("next_p", fwd.p_next));
            let (f_stmts, f_vals) = emit_block(&l.sym.g, &fwd_sources, &[], &f_out);
            let mut f_writes = Vec::new();
            for (k, v) in f_vals.iter().take(ns).enumerate() {
                let off = lit(self.layout.s_off[li][k]);
                f_writes.push(quote!(state[#off + i] = #v;));
            }
            let poff = lit(self.layout.p_off[li]);
            let pv = &f_vals[ns];
            let n = lit(l.size);
            let comment = format!(
                " layer `{}`: error neuron, local updates, nudged forward step",
                l.name
            );
            layers.push(quote! {
                #[doc = #comment]
                for i in 0..#n {
                    #input
                    let eps_i = {
                        #stmts
                        #(#writes)*
                        #eps
                    };
                    let input = input + gamma * eps_i;
                    #f_stmts
                    #(#f_writes)*
                    state[#poff + i] = #pv;
                }
            });
        }
        let send = self.send_errors(&with_local);
        quote! {
            #rates
            #(#decls)*
            {
                let r_out = &#out_rates;
                #loss
                let _ = loss;
                for i in 0..#n_out { #out_g[i] += beta * dloss[i]; }
            }
            #(#layers)*
            #send
        }
    }

    /// The errors in transit to layer `li`: `g_r_<layer>` and, with a recurrent projection,
    /// `g_rec_<layer>`, each with its slot in the local state (`None`: no layer sends to it, so
    /// it stays zero).
    fn transit_slots(&self, li: usize) -> Vec<(Ident, Option<usize>)> {
        let l = &self.net.layers[li];
        let mut v = vec![(g_r_ident(l), self.layout.fb_off[li])];
        if is_recurrent(l) {
            v.push((g_rec_ident(l), self.layout.fb_rec_off[li]));
        }
        v
    }

    /// The end of the per-sample online step: every layer's new ε sent down its projections,
    /// `g_r = −Σ Wᵀε` into the sources' slots of the local state, with the weights that
    /// computed ε (the caller updates them after the step; sending with the updated weights
    /// instead adds ΔWᵀε, which is correlated with ε, to the error below). Layers without a
    /// local rule (`with_local` lacks them) keep ε = 0 and send nothing.
    fn send_errors(&self, with_local: &[usize]) -> TokenStream {
        let mut out = Vec::new();
        for (li, l) in self.net.layers.iter().enumerate() {
            for (_, off) in self.transit_slots(li) {
                let Some(o) = off else { continue };
                let (o, n) = (lit(o), lit(l.size));
                out.push(quote!(local[#o..#o + #n].fill(T::zero());));
            }
        }
        for &li in with_local {
            let l = &self.net.layers[li];
            let eps = lit(self.layout.eps_off[li]);
            let n = lit(l.size);
            for (si, src) in l.sources.iter().enumerate() {
                let to = match src.kind {
                    SourceKind::Input => None,
                    SourceKind::Layer(j) => self.layout.fb_off[j],
                    SourceKind::Recurrent => self.layout.fb_rec_off[li],
                };
                // Every read layer has a slot (`Layout::new`).
                let Some(to) = to else { continue };
                let to = lit(to);
                let w = self.c(&self.layout.weight(li, si).konst);
                let nsrc = lit(src.size);
                out.push(quote! {
                    for i in 0..#n {
                        ::vle::kernels::axpy(-local[#eps + i], &params[#w + i * #nsrc..#w + (i + 1) * #nsrc], &mut local[#to..#to + #nsrc]);
                    }
                });
            }
        }
        quote!(#(#out)*)
    }

    /// Per-sample entries of the scratch the batch kernels need: per layer up to six arrays
    /// stored `[sample][neuron]` (see each kernel's split).
    fn batch_scratch_len(&self) -> usize {
        // The online step needs 5 arrays per layer (6 with a recurrent projection), the reverse
        // Euler step 5, the Euler step 2: size for the largest.
        self.net.layers.iter().map(|l| l.size * 6).sum()
    }

    /// [`Self::neuron_sources`] for the per-neuron loop of a batch kernel: states, `p` and
    /// parameters read from the rows bound by [`Self::state_rows`] and [`Self::param_rows`].
    fn batch_sources(&self, li: usize) -> Sources {
        let l = &self.net.layers[li];
        let mut v: Sources = Vec::new();
        for name in l.sym.states.iter().chain(&l.sym.params) {
            let row = row_ident(name);
            v.push((name.clone(), quote!(#row[i])));
        }
        v.push(("p".into(), quote!(row_p[i])));
        v.push(("input".into(), quote!(input)));
        v.push(("dt".into(), quote!(dt)));
        v
    }

    /// `let row_<param> = &params[..]`: layer `li`'s neuron parameters, bound once per kernel.
    fn param_rows(&self, li: usize) -> TokenStream {
        let l = &self.net.layers[li];
        let n = lit(l.size);
        let rows = (0..l.sym.params.len()).map(|k| {
            let e = self.layout.neuron_param(li, k);
            let c = self.c(&e.konst);
            let row = row_ident(&e.symbol);
            quote!(let #row = &params[#c..#c + #n];)
        });
        quote!(#(#rows)*)
    }

    /// `row_grad_<param>`: mutable rows of `grad` for layer `li`'s neuron parameters `which`.
    fn grad_rows(&self, li: usize, which: &[usize]) -> TokenStream {
        let Some(&first) = which.first() else {
            return quote!();
        };
        let l = &self.net.layers[li];
        let e0 = self.layout.neuron_param(li, first);
        let rows = which
            .iter()
            .map(|&k| {
                let e = self.layout.neuron_param(li, k);
                (
                    row_ident(&format!("grad_{}", e.symbol)),
                    e.offset - e0.offset,
                    l.size,
                )
            })
            .collect();
        bind_rows(&quote!(grad), &self.c(&e0.konst), rows, true)
    }

    /// `let (rate_x, ..) = scratch.split_at_mut(..)`: the input (read from `xs` in place) and,
    /// per layer, the arrays named by `arrays(layer)`, each `[sample][neuron]`.
    fn batch_split(&self, arrays: impl Fn(&Layer) -> Vec<Ident>) -> TokenStream {
        let n_in = lit(self.net.input_size);
        let mut split = vec![quote! {
            let nb = batch;
            let rate_x = &xs[..#n_in * nb];
        }];
        for l in &self.net.layers {
            let n = lit(l.size);
            for id in arrays(l) {
                split.push(quote!(let (#id, scratch) = scratch.split_at_mut(#n * nb);));
            }
        }
        quote!(#(#split)* let _ = scratch;)
    }

    /// Rates (and R'(p)) of layer `li` for the whole batch from the carried prospective values;
    /// `extra` runs per sample after the neuron loop (with `b`, `bs` in scope).
    fn batch_rates(&mut self, li: usize, with_dp: bool, extra: TokenStream) -> TokenStream {
        let sources = self.batch_sources(li);
        let prows = self.param_rows(li);
        let l = &mut self.net.layers[li];
        let (rid, did) = (rate_ident(l), rate_dp_ident(l));
        let (rrow, drow) = (row_ident("rate_r"), row_ident("rate_dp"));
        let re: RateExprs = l.sym.rate_exprs();
        let mut outputs = vec![("r", re.r)];
        if with_dp {
            outputs.push(("r_dp", re.r_dp));
        }
        let (stmts, vals) = emit_block(&l.sym.g, &sources, &[], &outputs);
        let r = &vals[0];
        let dp = if with_dp {
            let d = &vals[1];
            quote!(#drow[i] = #d;)
        } else {
            quote!()
        };
        let n = lit(l.size);
        let neurons = quote! {
            for i in 0..#n {
                #stmts
                #rrow[i] = #r;
                #dp
            }
        };
        let used = idents(&neurons);
        let (mut args, srows) = self.neuron_args(li, &used, false, false);
        let mut rows = self.scratch_row_at("rate_r", &rid, li, true, &used, &mut args);
        if with_dp {
            rows.extend(self.scratch_row_at("rate_dp", &did, li, true, &used, &mut args));
        }
        let call = self.neuron_call("rates", li, args, srows, rows, neurons);
        let extra = if extra.is_empty() {
            quote!()
        } else {
            quote!(for b in 0..nb { #extra })
        };
        quote! {
            {
                #prows
                #call
                #extra
            }
        }
    }

    /// The call of a nested neuron function (see [`Neurons`]) for layer `li`: per sample,
    /// `state_rows` and `rows` bind its rows, and `neurons` loops over them.
    #[allow(clippy::too_many_arguments)]
    fn neuron_call(
        &mut self,
        what: &'static str,
        li: usize,
        mut args: Bound,
        state_rows: TokenStream,
        rows: TokenStream,
        neurons: TokenStream,
    ) -> TokenStream {
        let (n_state, n_local) = (lit(self.layout.n_state), lit(self.layout.n_local));
        let all = quote!(#state_rows #rows);
        let all = idents(&all);
        let bs = all.contains("bs").then(|| quote!(let bs = b * #n_state;));
        let bl = all.contains("bl").then(|| quote!(let bl = b * #n_local;));
        // The neuron loop in a function of its own whose rows are parameters: references
        // passed as parameters do not alias, which the loop vectoriser needs (rows split off
        // one slice at run-time offsets would need run-time overlap checks).
        let n = lit(self.net.layers[li].size);
        let in_loop = idents(&neurons);
        let scalars: Vec<&Arg> = args
            .args
            .iter()
            .filter(|a| a.ty.to_string() == "T" && in_loop.contains(&a.id.to_string()))
            .collect();
        let decl = args
            .rows
            .iter()
            .map(|(id, w)| match w {
                true => quote!(#id: &mut [T]),
                false => quote!(#id: &[T]),
            })
            .chain(scalars.iter().map(|a| {
                let id = &a.id;
                quote!(#id: T)
            }));
        let reslice = args.rows.iter().map(|(id, w)| match w {
            true => quote!(let #id = &mut #id[..#n];),
            false => quote!(let #id = &#id[..#n];),
        });
        let names = args
            .rows
            .iter()
            .map(|(id, _)| id)
            .chain(scalars.iter().map(|a| &a.id));
        let body = quote! {
            fn neurons<T: ::vle::Scalar>(#(#decl),*) {
                #(#reslice)*
                #neurons
            }
            for b in 0..nb {
                #bs
                #bl
                #state_rows
                #rows
                neurons(#(#names),*);
            }
        };
        args.args.insert(0, arg("nb", quote!(usize), quote!(nb)));
        let name = self.net.layers[li].name.to_string();
        self.neurons.call(what, &name, args.args, body)
    }

    /// The arguments every nested neuron function of layer `li` starts with: its parameter
    /// rows (with `grads`, its gradient rows), and the binding of its state rows in `states`
    /// (written if `written`), those that `used` mentions.
    fn neuron_args(
        &self,
        li: usize,
        used: &HashSet<String>,
        grads: bool,
        written: bool,
    ) -> (Bound, TokenStream) {
        let mut args = Bound::default();
        self.layer_rows_at(li, used, grads, &mut args);
        let rows = self.state_rows_at(li, "states", "", (true, true), written, used, &mut args);
        (args, rows)
    }

    /// Layer `li`'s neuron-parameter rows (`row_<param>`) and, with `grads`, its gradient rows
    /// (`row_grad_<param>`) that `used` mentions, as arguments (bound by the kernel).
    fn layer_rows_at(&self, li: usize, used: &HashSet<String>, grads: bool, args: &mut Bound) {
        for pname in &self.net.layers[li].sym.params {
            let row = row_ident(pname);
            if used.contains(&row.to_string()) {
                args.push(arg(&row.to_string(), quote!(&[T]), quote!(#row)));
                args.row(&row, false);
            }
            let grow = row_ident(&format!("grad_{pname}"));
            if grads && used.contains(&grow.to_string()) {
                args.push(arg(&grow.to_string(), quote!(&mut [T]), quote!(#grow)));
                args.row(&grow, true);
            }
        }
    }

    /// Rows of layer `li`'s states (`row_<prefix><state>`) and prospective value
    /// (`row_<prefix>p`) in one sample's part of `slice` (at `bs`), those that `used`
    /// mentions, at the offsets `o_<state>`, `o_p`: arguments, with `slice`, of the nested
    /// function.
    #[allow(clippy::too_many_arguments)]
    fn state_rows_at(
        &self,
        li: usize,
        slice: &str,
        prefix: &str,
        (states, p): (bool, bool),
        mutable: bool,
        used: &HashSet<String>,
        args: &mut Bound,
    ) -> TokenStream {
        let l = &self.net.layers[li];
        let mut rows = Vec::new();
        if states {
            for (k, st) in l.sym.states.iter().enumerate() {
                rows.push((
                    format!("{prefix}{st}"),
                    format!("o_{st}"),
                    self.layout.s_off[li][k],
                ));
            }
        }
        if p {
            rows.push((format!("{prefix}p"), "o_p".into(), self.layout.p_off[li]));
        }
        Self::rows_at(slice, quote!(bs), rows, l.size, mutable, used, args)
    }

    /// [`bind_rows_at`] for the `rows` (name, offset argument, offset) that `used` mentions,
    /// in the order of their offsets; adds `slice` and the offsets to `args`.
    fn rows_at(
        slice: &str,
        base: TokenStream,
        mut rows: Vec<(String, String, usize)>,
        n: usize,
        mutable: bool,
        used: &HashSet<String>,
        args: &mut Bound,
    ) -> TokenStream {
        rows.retain(|(r, _, _)| used.contains(&format!("row_{r}")));
        if rows.is_empty() {
            return quote!();
        }
        rows.sort_by_key(|r| r.2);
        let sid = Ident::new(slice, Span::call_site());
        let ty = if mutable {
            quote!(&mut [T])
        } else {
            quote!(&[T])
        };
        args.push(arg(slice, ty, quote!(#sid)));
        let mut bound = Vec::new();
        for (r, o, v) in &rows {
            let v = lit(*v);
            args.push(arg(o, quote!(usize), quote!(#v)));
            args.row(&row_ident(r), mutable);
            bound.push((row_ident(r), Ident::new(o, Span::call_site())));
        }
        bind_rows_at(&sid, &base, &bound, n, mutable)
    }

    /// `row_<name>`: one sample's row of the `[sample][neuron]` array `array` of layer `li`,
    /// bound from the argument `<name>` if `used` mentions the row (nothing otherwise).
    fn scratch_row_at(
        &self,
        name: &str,
        array: &Ident,
        li: usize,
        mutable: bool,
        used: &HashSet<String>,
        args: &mut Bound,
    ) -> TokenStream {
        let row = row_ident(name);
        if !used.contains(&row.to_string()) {
            return quote!();
        }
        let n = lit(self.net.layers[li].size);
        let id = Ident::new(name, Span::call_site());
        args.row(&row, mutable);
        if mutable {
            args.push(arg(name, quote!(&mut [T]), quote!(&mut #array[..])));
            quote!(let #row = &mut #id[b * #n..(b + 1) * #n];)
        } else {
            args.push(arg(name, quote!(&[T]), quote!(&#array[..])));
            quote!(let #row = &#id[b * #n..(b + 1) * #n];)
        }
    }

    /// The synaptic input of layer `li` for the whole batch into `rate_in_<layer>`: the bias,
    /// then one matrix product per projection (`[sample][neuron]`: inputs · Wᵀ).
    fn batch_synaptic_input(&self, li: usize) -> TokenStream {
        let l = &self.net.layers[li];
        let n = lit(l.size);
        let in_id = format_ident!("rate_in_{}", l.name);
        let mut syn = vec![match self.layout.bias(li) {
            Some(b) => {
                let c = self.c(&b.konst);
                quote! {
                    for b in 0..nb {
                        #in_id[b * #n..(b + 1) * #n].copy_from_slice(&params[#c..#c + #n]);
                    }
                }
            }
            None => quote!(#in_id.fill(T::zero());),
        }];
        for (si, src) in l.sources.iter().enumerate() {
            let w = self.c(&self.layout.weight(li, si).konst);
            let nsrc = lit(src.size);
            let r = self.batch_src_rates(li, si);
            syn.push(quote! {
                ::vle::kernels::gemm_nt(nb, #n, #nsrc, T::one(), &#r[..], &params[#w..#w + #n * #nsrc], &mut #in_id[..]);
            });
        }
        quote!(#(#syn)*)
    }

    /// The `[sample][neuron]` rates a projection of layer `li` reads.
    fn batch_src_rates(&self, li: usize, si: usize) -> TokenStream {
        match self.net.layers[li].sources[si].kind {
            SourceKind::Input => quote!(rate_x),
            _ => self.src_rates(li, si),
        }
    }

    /// [`Self::euler_step`] for a batch: synaptic sums as matrix products over the batch.
    fn euler_step_batch(&mut self) -> TokenStream {
        let split = self.batch_split(|l| vec![rate_ident(l), format_ident!("rate_in_{}", l.name)]);
        let mut rates = Vec::new();
        for li in 0..self.net.layers.len() {
            rates.push(self.batch_rates(li, false, quote!()));
        }
        let mut layers = Vec::new();
        for li in 0..self.net.layers.len() {
            let sources = self.batch_sources(li);
            let syn = self.batch_synaptic_input(li);
            let prows = self.param_rows(li);
            let l = &mut self.net.layers[li];
            let in_id = format_ident!("rate_in_{}", l.name);
            let in_row = row_ident("rate_in");
            let fwd: EulerExprs = l.sym.euler();
            let n = lit(l.size);
            let names: Vec<String> = l.sym.states.iter().map(|s| format!("next_{s}")).collect();
            let mut outputs: Vec<(&str, Expr)> = names
                .iter()
                .map(|s| s.as_str())
                .zip(fwd.s_next.iter().copied())
                .collect();
            outputs.push(("next_p", fwd.p_next));
            let (stmts, vals) = emit_block(&l.sym.g, &sources, &[], &outputs);
            let mut writes = Vec::new();
            for (s, v) in l.sym.states.iter().zip(&vals) {
                let row = row_ident(s);
                writes.push(quote!(#row[i] = #v;));
            }
            let pv = &vals[l.sym.states.len()];
            let comment = format!(" layer `{}` ({})", l.name, l.sym.neuron);
            let in_off = lit(self.layout.err_off[li]);
            let neurons = quote! {
                for i in 0..#n {
                    let input = #in_row[i];
                    #stmts
                    #(#writes)*
                    row_p[i] = #pv;
                }
            };
            let used = idents(&neurons);
            let (mut args, srows) = self.neuron_args(li, &used, false, true);
            let rows = self.scratch_row_at("rate_in", &in_id, li, false, &used, &mut args);
            args.push(arg("dt", quote!(T), quote!(dt)));
            let call = self.neuron_call("euler", li, args, srows, rows, neurons);
            layers.push(quote! {
                #[doc = #comment]
                {
                    #syn
                    if !inputs.is_empty() {
                        inputs[nb * #in_off..nb * (#in_off + #n)].copy_from_slice(&#in_id[..]);
                    }
                    #prows
                    #call
                }
            });
        }
        let neurons = self.neurons.take();
        quote! {
            #neurons
            #split
            #(#rates)*
            #(#layers)*
        }
    }

    /// [`Self::euler_step_adjoint`] for a batch: the weight gradients and the adjoint rates of
    /// the presynaptic layers are matrix products over the batch.
    fn euler_step_adjoint_batch(&mut self) -> TokenStream {
        let split = self.batch_split(|l| {
            vec![
                rate_ident(l),
                rate_dp_ident(l),
                format_ident!("rate_in_{}", l.name),
                adj_r_ident(l),
                format_ident!("rate_ain_{}", l.name),
            ]
        });
        let mut rates = Vec::new();
        for li in 0..self.net.layers.len() {
            rates.push(self.batch_rates(li, true, quote!()));
            let a = adj_r_ident(&self.net.layers[li]);
            rates.push(quote!(#a.fill(T::zero());));
        }
        // Deferred weight gradients: the presynaptic rates of this step into their slot.
        let mut rate_terms = Vec::new();
        for (src, off, n) in self.rate_term_blocks() {
            let (off, n) = (lit(off), lit(n));
            rate_terms.push(quote! {
                terms[tb * #off + slot * nb * #n..tb * #off + (slot + 1) * nb * #n].copy_from_slice(&#src[..]);
            });
        }
        rates.push(quote! {
            let tb = slots * nb;
            if slots > 0 {
                #(#rate_terms)*
            }
        });
        let mut layers = Vec::new();
        for li in 0..self.net.layers.len() {
            let mut sources = self.batch_sources(li);
            let syn = self.batch_synaptic_input(li);
            let (w_entries, b_entry, _) = self.param_entries(li);
            let src_rates: Vec<TokenStream> = (0..self.net.layers[li].sources.len())
                .map(|si| self.batch_src_rates(li, si))
                .collect();
            let prows = self.param_rows(li);
            let all_params: Vec<usize> = (0..self.net.layers[li].sym.params.len()).collect();
            let grows = self.grad_rows(li, &all_params);
            let l = &mut self.net.layers[li];
            let in_id = format_ident!("rate_in_{}", l.name);
            let ain = format_ident!("rate_ain_{}", l.name);
            let (in_row, ain_row) = (row_ident("rate_in"), row_ident("rate_ain"));
            let fwd = l.sym.euler();
            let adj: EulerAdjointExprs = l.sym.euler_adjoint(&fwd);
            for s in l.sym.states.iter().chain(std::iter::once(&"p".to_string())) {
                let row = row_ident(&format!("adj_next_{s}"));
                sources.push((format!("adj_{s}"), quote!(#row[i])));
            }
            let names_s: Vec<String> = l
                .sym
                .states
                .iter()
                .map(|s| format!("adj_prev_{s}"))
                .collect();
            let names_t: Vec<String> = l.sym.params.iter().map(|s| format!("grad_{s}")).collect();
            let mut outputs: Vec<(&str, Expr)> = names_s
                .iter()
                .map(|s| s.as_str())
                .zip(adj.a_s.iter().copied())
                .collect();
            outputs.push(("adj_input", adj.a_input));
            outputs.extend(
                names_t
                    .iter()
                    .map(|s| s.as_str())
                    .zip(adj.a_theta.iter().copied()),
            );
            let (stmts, vals) = emit_block(&l.sym.g, &sources, &[], &outputs);
            let ns = l.sym.states.len();
            let mut writes = Vec::new();
            for (s, v) in l.sym.states.iter().zip(&vals) {
                let row = row_ident(&format!("adj_prev_{s}"));
                writes.push(quote!(#row[i] = #v;));
            }
            let a_in = &vals[ns];
            writes.push(quote!(#ain_row[i] = #a_in;));
            for (k, pname) in l.sym.params.iter().enumerate() {
                let row = row_ident(&format!("grad_{pname}"));
                let v = &vals[ns + 1 + k];
                writes.push(quote!(#row[i] += #v;));
            }
            let n = lit(l.size);
            let bias_grad = match &b_entry {
                Some(c) => quote! {
                    for b in 0..nb {
                        ::vle::kernels::axpy(T::one(), &#ain[b * #n..(b + 1) * #n], &mut grad[#c..#c + #n]);
                    }
                },
                None => quote!(),
            };
            let mut products = Vec::new();
            let mut wgrads = Vec::new();
            for (si, w) in w_entries.iter().enumerate() {
                let src = &l.sources[si];
                let nsrc = lit(src.size);
                let r = &src_rates[si];
                wgrads.push(quote! {
                    ::vle::kernels::gemm_tn(#n, #nsrc, nb, T::one(), &#ain[..], &#r[..], &mut grad[#w..#w + #n * #nsrc]);
                });
                if src.kind != SourceKind::Input {
                    let a = format_ident!("adj_rate_{}", src.name);
                    products.push(quote! {
                        ::vle::kernels::gemm_nn(nb, #nsrc, #n, T::one(), &#ain[..], &params[#w..#w + #n * #nsrc], &mut #a[..]);
                    });
                }
            }
            let a_off = lit(self.layout.err_off[li]);
            let comment = format!(" layer `{}`: reverse mode of its Euler step", l.name);
            let neurons = quote! {
                for i in 0..#n {
                    let input = #in_row[i];
                    #stmts
                    #(#writes)*
                }
            };
            let used = idents(&neurons);
            let (mut args, mut srows) = self.neuron_args(li, &used, true, false);
            srows.extend(self.state_rows_at(
                li,
                "adj_next",
                "adj_next_",
                (true, true),
                false,
                &used,
                &mut args,
            ));
            srows.extend(self.state_rows_at(
                li,
                "adj_prev",
                "adj_prev_",
                (true, false),
                true,
                &used,
                &mut args,
            ));
            let mut rows = self.scratch_row_at("rate_in", &in_id, li, false, &used, &mut args);
            rows.extend(self.scratch_row_at("rate_ain", &ain, li, true, &used, &mut args));
            args.push(arg("dt", quote!(T), quote!(dt)));
            let call = self.neuron_call("adjoint", li, args, srows, rows, neurons);
            layers.push(quote! {
                #[doc = #comment]
                {
                    if inputs.is_empty() {
                        #syn
                    } else {
                        #in_id.copy_from_slice(&inputs[nb * #a_off..nb * (#a_off + #n)]);
                    }
                    {
                        #prows
                        #grows
                        #call
                    }
                    #bias_grad
                    if slots == 0 {
                        #(#wgrads)*
                    } else {
                        terms[tb * #a_off + slot * nb * #n..tb * #a_off + (slot + 1) * nb * #n].copy_from_slice(&#ain[..]);
                    }
                    #(#products)*
                }
            });
        }
        // Rates were read from the carried prospective values: chain into adj_prev and grad.
        let mut chain = Vec::new();
        for li in 0..self.net.layers.len() {
            let sources = self.batch_sources(li);
            let prows = self.param_rows(li);
            let re = self.net.layers[li].sym.rate_exprs();
            let used: Vec<usize> = (0..re.r_dtheta.len())
                .filter(|&k| !self.net.layers[li].sym.g.is_zero(re.r_dtheta[k]))
                .collect();
            let grows = self.grad_rows(li, &used);
            let l = &mut self.net.layers[li];
            let names: Vec<String> = used
                .iter()
                .map(|&k| format!("rate_d_{}", l.sym.params[k]))
                .collect();
            let outputs: Vec<(&str, Expr)> = names
                .iter()
                .zip(&used)
                .map(|(name, &k)| (name.as_str(), re.r_dtheta[k]))
                .collect();
            let (stmts, vals) = emit_block(&l.sym.g, &sources, &[], &outputs);
            let (a, d) = (adj_r_ident(l), rate_dp_ident(l));
            let (arow, drow) = (row_ident("adj_rate"), row_ident("rate_dp"));
            let n = lit(l.size);
            let sums = used.iter().zip(&vals).map(|(&k, v)| {
                let row = row_ident(&format!("grad_{}", l.sym.params[k]));
                quote!(#row[i] += #arow[i] * #v;)
            });
            let neurons = quote! {
                for i in 0..#n {
                    #stmts
                    row_adj_prev_p[i] = #arow[i] * #drow[i];
                    #(#sums)*
                }
            };
            let used = idents(&neurons);
            let (mut args, mut srows) = self.neuron_args(li, &used, true, false);
            srows.extend(self.state_rows_at(
                li,
                "adj_prev",
                "adj_prev_",
                (false, true),
                true,
                &used,
                &mut args,
            ));
            let mut rows = self.scratch_row_at("adj_rate", &a, li, false, &used, &mut args);
            rows.extend(self.scratch_row_at("rate_dp", &d, li, false, &used, &mut args));
            args.push(arg("dt", quote!(T), quote!(dt)));
            let call = self.neuron_call("adjoint_rates", li, args, srows, rows, neurons);
            chain.push(quote! {
                {
                    #prows
                    #grows
                    #call
                }
            });
        }
        let neurons = self.neurons.take();
        quote! {
            #neurons
            #split
            #(#rates)*
            #(#layers)*
            #(#chain)*
        }
    }

    /// Blocks of the deferred weight-gradient terms (see `Network::WEIGHT_TERMS`) holding
    /// presynaptic rates: (the `[sample][neuron]` rates, offset per slot-sample, size). Per
    /// sample and step the terms are every layer's adjoint input `a` (at `err_off`), then the
    /// input, then every layer's rates.
    fn rate_term_blocks(&self) -> Vec<(Ident, usize, usize)> {
        let (nn, n_in) = (self.layout.n_neurons, self.net.input_size);
        let mut v = vec![(format_ident!("rate_x"), nn, n_in)];
        for (li, l) in self.net.layers.iter().enumerate() {
            v.push((rate_ident(l), nn + n_in + self.layout.err_off[li], l.size));
        }
        v
    }

    /// `Network::WEIGHT_TERMS`.
    fn weight_terms(&self) -> usize {
        2 * self.layout.n_neurons + self.net.input_size
    }

    /// `Network::weight_grad_from_terms`: per projection, one product over the `filled`
    /// slots' samples.
    fn weight_grad_from_terms(&self) -> TokenStream {
        let (nn, n_in) = (self.layout.n_neurons, self.net.input_size);
        let mut products = Vec::new();
        for (li, l) in self.net.layers.iter().enumerate() {
            let n = lit(l.size);
            let a_off = lit(self.layout.err_off[li]);
            for (si, src) in l.sources.iter().enumerate() {
                let w = self.c(&self.layout.weight(li, si).konst);
                let nsrc = lit(src.size);
                let r_off = lit(match src.kind {
                    SourceKind::Input => nn,
                    SourceKind::Layer(j) => nn + n_in + self.layout.err_off[j],
                    SourceKind::Recurrent => nn + n_in + self.layout.err_off[li],
                });
                products.push(quote! {
                    ::vle::kernels::gemm_tn(#n, #nsrc, k, T::one(), &terms[tb * #a_off..], &terms[tb * #r_off..], &mut grad[#w..#w + #n * #nsrc]);
                });
            }
        }
        quote! {
            let (tb, k) = (slots * batch, filled * batch);
            #(#products)*
        }
    }

    /// The online step of [`Self::online_step`] for a batch of samples at once: the synaptic
    /// sums, the error feedback and the weight updates become matrix products over the batch
    /// (`::vle::kernels::gemm_*`), the per-neuron arithmetic is the same emitted code in a loop
    /// over each sample's neurons. States stay `[sample][entry]`, the scratch is
    /// `[sample][neuron]`: the neuron loop reads and writes unit-stride rows of exact length
    /// (no bounds checks), which LLVM vectorises.
    fn online_step_batch(&mut self) -> TokenStream {
        let nl = self.net.layers.len();
        let n_local = lit(self.layout.n_local);
        let n_out = lit(self.net.layers[self.net.output].size);
        let split = self.batch_split(|l| {
            let mut ids = vec![rate_ident(l), rate_dp_ident(l), g_r_ident(l)];
            if is_recurrent(l) {
                ids.push(g_rec_ident(l));
            }
            ids.push(format_ident!("rate_in_{}", l.name));
            ids.push(format_ident!("rate_eps_{}", l.name));
            ids
        });
        // Rates and R'(p) of every layer from the carried prospective values; the errors in
        // transit, sent in the previous step, copied out of the local state.
        let mut rates = Vec::new();
        for li in 0..nl {
            let l = &self.net.layers[li];
            let n = lit(l.size);
            let mut copy_in = Vec::new();
            let mut zero = Vec::new();
            for (g, off) in self.transit_slots(li) {
                match off {
                    Some(o) => {
                        let o = lit(o);
                        copy_in.push(quote! {
                            #g[b * #n..(b + 1) * #n].copy_from_slice(&locals[bl + #o..bl + #o + #n]);
                        });
                    }
                    None => zero.push(quote!(#g.fill(T::zero());)),
                }
            }
            let extra = if copy_in.is_empty() {
                quote!()
            } else {
                quote! {
                    let bl = b * #n_local;
                    #(#copy_in)*
                }
            };
            let r = self.batch_rates(li, true, extra);
            rates.push(quote! {
                #r
                #(#zero)*
            });
        }
        let out_l = &self.net.layers[self.net.output];
        let out_rates = rate_ident(out_l);
        let out_g = g_r_ident(out_l);
        let loss = self.loss_code(true);
        let loss_block = quote! {
            for b in 0..nb {
                let mut r_out = [T::zero(); #n_out];
                r_out.copy_from_slice(&#out_rates[b * #n_out..(b + 1) * #n_out]);
                let y = &ys[b * #n_out..(b + 1) * #n_out];
                #loss
                let _ = loss;
                for (g, d) in #out_g[b * #n_out..(b + 1) * #n_out].iter_mut().zip(&dloss) {
                    *g += beta * *d;
                }
            }
        };
        let mut layers = Vec::new();
        let mut with_local = Vec::new();
        for li in 0..nl {
            let mut sources = self.batch_sources(li);
            let (w_entries, b_entry, _) = self.param_entries(li);
            let fwd_sources = sources.clone();
            let bias = self.layout.bias(li).map(|b| self.c(&b.konst));
            let src_rates: Vec<TokenStream> = (0..self.net.layers[li].sources.len())
                .map(|si| self.batch_src_rates(li, si))
                .collect();
            let prows = self.param_rows(li);
            let recurrent = is_recurrent(&self.net.layers[li]);
            let Some(loc): Option<LocalExprs> = self.net.layers[li].sym.local(recurrent) else {
                continue;
            };
            with_local.push(li);
            let used: Vec<usize> = (0..loc.grad_theta.len())
                .filter(|&k| !self.net.layers[li].sym.g.is_zero(loc.grad_theta[k]))
                .collect();
            let grows = self.grad_rows(li, &used);
            let l = &mut self.net.layers[li];
            let n = lit(l.size);
            let in_id = format_ident!("rate_in_{}", l.name);
            let eid = format_ident!("rate_eps_{}", l.name);
            let (gid, did) = (g_r_ident(l), rate_dp_ident(l));
            let (in_row, eps_row) = (row_ident("rate_in"), row_ident("rate_eps"));
            let (g_row, dp_row) = (row_ident("g_r"), row_ident("rate_dp"));
            // Synaptic input of the whole batch: bias, then one product per projection.
            let mut syn = vec![match &bias {
                Some(c) => quote! {
                    for b in 0..nb {
                        #in_id[b * #n..(b + 1) * #n].copy_from_slice(&params[#c..#c + #n]);
                    }
                },
                None => quote!(#in_id.fill(T::zero());),
            }];
            for (si, src) in l.sources.iter().enumerate() {
                let w = &w_entries[si];
                let nsrc = lit(src.size);
                let r = &src_rates[si];
                syn.push(quote! {
                    ::vle::kernels::gemm_nt(nb, #n, #nsrc, T::one(), &#r[..], &params[#w..#w + #n * #nsrc], &mut #in_id[..]);
                });
            }
            // The error neuron's rows in the local state: v_<state>, then ε.
            let mut lrows = Vec::new();
            for (k, st) in l.sym.states.iter().enumerate() {
                let row = row_ident(&format!("v_{st}"));
                sources.push((format!("v_{st}"), quote!(#row[i])));
                lrows.push((
                    format!("v_{st}"),
                    format!("o_v_{st}"),
                    self.layout.v_off[li][k],
                ));
            }
            lrows.push(("eps_i".into(), "o_eps_i".into(), self.layout.eps_off[li]));
            sources.push(("g_r".into(), quote!(#g_row[i])));
            if recurrent {
                let row = row_ident("g_r_rec");
                sources.push(("g_r_rec".into(), quote!(#row[i])));
            }
            let names_dv: Vec<String> = l.sym.states.iter().map(|s| format!("d_v_{s}")).collect();
            let names_t: Vec<String> = l.sym.params.iter().map(|s| format!("grad_{s}")).collect();
            let mut outputs: Vec<(&str, Expr)> = names_dv
                .iter()
                .map(|s| s.as_str())
                .zip(loc.dv.iter().copied())
                .collect();
            outputs.push(("eps", loc.eps));
            outputs.extend(
                names_t
                    .iter()
                    .map(|s| s.as_str())
                    .zip(loc.grad_theta.iter().copied()),
            );
            let rate_dp_node = l.sym.g.diff(l.sym.rate, l.sym.p);
            let rate_dp_var = l.sym.g.var("rate_dp");
            let swap = [(rate_dp_node, rate_dp_var)];
            let outputs: Vec<(&str, Expr)> = outputs
                .into_iter()
                .map(|(n, e)| (n, l.sym.g.subs(e, &swap)))
                .collect();
            let e_hat = l.sym.g.subs(loc.e_hat, &swap);
            sources.push(("rate_dp".into(), quote!(#dp_row[i])));
            let hints = [(e_hat, "e_hat")];
            let (stmts, vals) = emit_block(&l.sym.g, &sources, &hints, &outputs);
            let ns = l.sym.states.len();
            let mut writes = Vec::new();
            for (st, v) in l.sym.states.iter().zip(&vals) {
                let row = row_ident(&format!("v_{st}"));
                writes.push(quote!(#row[i] += dt * #v;));
            }
            let eps = &vals[ns];
            writes.push(quote!(row_eps_i[i] = #eps;));
            writes.push(quote!(#eps_row[i] = #eps;));
            for &k in &used {
                let row = row_ident(&format!("grad_{}", l.sym.params[k]));
                let v = &vals[ns + 1 + k];
                writes.push(quote!(#row[i] += dt * #v;));
            }
            let bias_grad = match &b_entry {
                Some(c) => quote! {
                    for b in 0..nb {
                        ::vle::kernels::axpy(-dt, &#eid[b * #n..(b + 1) * #n], &mut grad[#c..#c + #n]);
                    }
                },
                None => quote!(),
            };
            let mut wgrads = Vec::new();
            for (si, w) in w_entries.iter().enumerate() {
                let nsrc = lit(l.sources[si].size);
                let r = &src_rates[si];
                wgrads.push(quote! {
                    ::vle::kernels::gemm_tn(#n, #nsrc, nb, -dt, &#eid[..], &#r[..], &mut grad[#w..#w + #n * #nsrc]);
                });
            }
            let fwd = l.sym.euler();
            let names: Vec<String> = l.sym.states.iter().map(|s| format!("next_{s}")).collect();
            let mut f_out: Vec<(&str, Expr)> = names
                .iter()
                .map(|s| s.as_str())
                .zip(fwd.s_next.iter().copied())
                .collect();
            f_out.push(("next_p", fwd.p_next));
            let (f_stmts, f_vals) = emit_block(&l.sym.g, &fwd_sources, &[], &f_out);
            let mut f_writes = Vec::new();
            for (st, v) in l.sym.states.iter().zip(&f_vals) {
                let row = row_ident(st);
                f_writes.push(quote!(#row[i] = #v;));
            }
            let pv = &f_vals[ns];
            let comment = format!(
                " layer `{}`: synaptic input, error neuron, local updates, nudged forward step",
                l.name
            );
            let neurons = quote! {
                for i in 0..#n {
                    let input = #in_row[i];
                    let eps_i = {
                        #stmts
                        #(#writes)*
                        #eps
                    };
                    let input = input + gamma * eps_i;
                    #f_stmts
                    #(#f_writes)*
                    row_p[i] = #pv;
                }
            };
            let size = l.size;
            let used = idents(&neurons);
            let (mut args, mut srows) = self.neuron_args(li, &used, true, true);
            srows.extend(Self::rows_at(
                "locals",
                quote!(bl),
                lrows,
                size,
                true,
                &used,
                &mut args,
            ));
            let mut rows = self.scratch_row_at("rate_in", &in_id, li, false, &used, &mut args);
            rows.extend(self.scratch_row_at("rate_eps", &eid, li, true, &used, &mut args));
            rows.extend(self.scratch_row_at("g_r", &gid, li, false, &used, &mut args));
            if recurrent {
                let grec = g_rec_ident(&self.net.layers[li]);
                rows.extend(self.scratch_row_at("g_r_rec", &grec, li, false, &used, &mut args));
            }
            rows.extend(self.scratch_row_at("rate_dp", &did, li, false, &used, &mut args));
            args.push(arg("dt", quote!(T), quote!(dt)));
            args.push(arg("gamma", quote!(T), quote!(gamma)));
            let call = self.neuron_call("online", li, args, srows, rows, neurons);
            layers.push(quote! {
                #[doc = #comment]
                {
                    #(#syn)*
                    {
                        #prows
                        #grows
                        #call
                    }
                    #bias_grad
                    #(#wgrads)*
                }
            });
        }
        let send = self.send_errors_batch(&with_local);
        let neurons = self.neurons.take();
        quote! {
            #neurons
            #split
            #(#rates)*
            #loss_block
            #(#layers)*
            #send
        }
    }

    /// [`Self::send_errors`] for the batch: one product `g −= ε W` per projection over the
    /// batch (ε rows in `rate_eps_<layer>`, written by the layer's loop), then the sums copied
    /// into the local state.
    fn send_errors_batch(&self, with_local: &[usize]) -> TokenStream {
        let n_local = lit(self.layout.n_local);
        let mut zero = Vec::new();
        let mut copy_out = Vec::new();
        for (li, l) in self.net.layers.iter().enumerate() {
            let n = lit(l.size);
            for (g, off) in self.transit_slots(li) {
                let Some(o) = off else { continue };
                let o = lit(o);
                zero.push(quote!(#g.fill(T::zero());));
                copy_out.push(quote! {
                    locals[bl + #o..bl + #o + #n].copy_from_slice(&#g[b * #n..(b + 1) * #n]);
                });
            }
        }
        if copy_out.is_empty() {
            return quote!();
        }
        let mut products = Vec::new();
        for &li in with_local {
            let l = &self.net.layers[li];
            let n = lit(l.size);
            let eid = format_ident!("rate_eps_{}", l.name);
            for (si, src) in l.sources.iter().enumerate() {
                let g = match src.kind {
                    SourceKind::Input => continue,
                    SourceKind::Layer(j) => g_r_ident(&self.net.layers[j]),
                    SourceKind::Recurrent => g_rec_ident(l),
                };
                let w = self.c(&self.layout.weight(li, si).konst);
                let nsrc = lit(src.size);
                products.push(quote! {
                    ::vle::kernels::gemm_nn(nb, #nsrc, #n, -T::one(), &#eid[..], &params[#w..#w + #n * #nsrc], &mut #g[..]);
                });
            }
        }
        quote! {
            #(#zero)*
            #(#products)*
            for b in 0..nb {
                let bl = b * #n_local;
                #(#copy_out)*
            }
        }
    }

    fn infos(&self) -> (TokenStream, TokenStream, TokenStream) {
        let mut params = Vec::new();
        let mut consts = Vec::new();
        for e in &self.layout.params {
            let name = &e.name;
            let layer = &self.net.layers[e.layer].name;
            let symbol = &e.symbol;
            let kind = match e.kind {
                EntryKind::Weight(si) => {
                    let src = &self.net.layers[e.layer].sources[si];
                    let pre = &src.name;
                    let rec = src.kind == SourceKind::Recurrent;
                    quote!(::vle::ParamKind::Weight { pre: #pre, recurrent: #rec })
                }
                EntryKind::Bias => quote!(::vle::ParamKind::Bias),
                EntryKind::Neuron(_) => quote!(::vle::ParamKind::Neuron),
            };
            let (offset, rows, cols) = (lit(e.offset), lit(e.rows), lit(e.cols));
            let (learnable, tc) = (e.learnable, e.time_constant);
            let defaults = e.defaults.iter().map(|v| Literal::f64_suffixed(*v));
            params.push(quote! {
                ::vle::ParamInfo {
                    name: #name, layer: #layer, symbol: #symbol, kind: #kind,
                    offset: #offset, rows: #rows, cols: #cols,
                    learnable: #learnable, time_constant: #tc,
                    defaults: &[#(#defaults),*],
                }
            });
            let k = &e.konst;
            let doc = format!(" Offset of `{}` in the parameter vector.", e.name);
            consts.push(quote!(#[doc = #doc] pub const #k: usize = #offset;));
        }
        let mut layers = Vec::new();
        for (li, l) in self.net.layers.iter().enumerate() {
            let name = &l.name;
            let size = lit(l.size);
            let neuron = &l.sym.neuron;
            let states = l
                .sym
                .states
                .iter()
                .zip(&self.layout.s_off[li])
                .map(|(s, o)| {
                    let o = lit(*o);
                    quote!((#s, #o))
                });
            let (po, eo, ao) = (
                lit(self.layout.p_off[li]),
                lit(self.layout.eps_off[li]),
                lit(self.layout.err_off[li]),
            );
            layers.push(quote! {
                ::vle::LayerInfo {
                    name: #name, size: #size, neuron: #neuron,
                    states: &[#(#states),*],
                    prospective_offset: #po,
                    local_error_offset: #eo,
                    adjoint_error_offset: #ao,
                }
            });
        }
        (
            quote!(#(#params),*),
            quote!(#(#layers),*),
            quote!(#(#consts)*),
        )
    }

    /// The network type, its layout constants, `DERIVATION_TEXT`/`DERIVATION_LATEX` and its
    /// `::vle::Network` implementation with every kernel.
    pub fn generate(mut self) -> TokenStream {
        let euler = self.euler_step();
        let euler_adj = self.euler_step_adjoint();
        let out_rates = self.output_rates();
        let loss = self.loss_code(false);
        let loss_adj = self.loss_adjoint();
        let continuous = self.is_continuous();
        let (rhs, refresh, adj_rhs) = if continuous {
            let rhs = self.continuous_chain("c", true, false);
            let refresh = self.continuous_chain("state", false, true);
            let adj = self.adjoint_rhs();
            (rhs, refresh, adj)
        } else {
            // Recurrent projections of prospective rates form an algebraic loop in continuous
            // time; only the discrete (delayed) system is defined. Fill with NaN so misuse is
            // detected rather than silently wrong.
            (
                quote!(let _ = (params, c, x); dc.fill(T::from_f64(f64::NAN));),
                quote!(let _ = (params, x); state.fill(T::from_f64(f64::NAN));),
                quote! {
                    let _ = (params, c, x, y, beta, costate);
                    dcostate.fill(T::from_f64(f64::NAN));
                    errors.fill(T::from_f64(f64::NAN));
                    grad_density.fill(T::from_f64(f64::NAN));
                },
            )
        };
        let online = self.online_step();
        let online_batch = self.online_step_batch();
        let euler_batch = self.euler_step_batch();
        let euler_adj_batch = self.euler_step_adjoint_batch();
        let wgrad_terms = self.weight_grad_from_terms();
        let weight_terms = lit(self.weight_terms());
        let batch_scratch = lit(self.batch_scratch_len());
        let (param_infos, layer_infos, consts) = self.infos();
        let (text, latex) = crate::text::derivation(self.net);
        let net = &*self.net;
        let name = &net.name;
        let vis = &net.vis;
        let attrs = &net.attrs;
        let name_str = name.to_string();
        let l = &self.layout;
        let (n_in, n_out) = (lit(net.input_size), lit(net.layers[net.output].size));
        let (np, ns, nc, nlc, nn) = (
            lit(l.n_params),
            lit(l.n_state),
            lit(l.n_cont),
            lit(l.n_local),
            lit(l.n_neurons),
        );
        let doc_layout = format!(
            " Generated by `vle_model!`: {} parameters, {} state entries per sample ({} continuous), {} local-rule entries, {} neurons.",
            l.n_params, l.n_state, l.n_cont, l.n_local, l.n_neurons
        );
        quote! {
            #(#attrs)*
            #[doc = #doc_layout]
            #[derive(Clone, Copy, Debug, Default)]
            #vis struct #name;

            #[allow(dead_code)]
            impl #name {
                #consts
                /// The derivation the macro performed (plain text).
                pub const DERIVATION_TEXT: &'static str = #text;
                /// The derivation the macro performed (LaTeX).
                pub const DERIVATION_LATEX: &'static str = #latex;
            }

            #[allow(clippy::all, unused_mut, unused_variables, non_snake_case)]
            impl ::vle::Network for #name {
                const NAME: &'static str = #name_str;
                const INPUT: usize = #n_in;
                const OUTPUT: usize = #n_out;
                const PARAMS: usize = #np;
                const STATE: usize = #ns;
                const CONT: usize = #nc;
                const LOCAL: usize = #nlc;
                const NEURONS: usize = #nn;
                const CONTINUOUS: bool = #continuous;
                const BATCH_SCRATCH: usize = #batch_scratch;
                const WEIGHT_TERMS: usize = #weight_terms;
                const SYNAPTIC_INPUTS: usize = #nn;

                fn param_info() -> &'static [::vle::ParamInfo] {
                    const INFO: &[::vle::ParamInfo] = &[#param_infos];
                    INFO
                }
                fn layer_info() -> &'static [::vle::LayerInfo] {
                    const INFO: &[::vle::LayerInfo] = &[#layer_infos];
                    INFO
                }
                fn derivation() -> &'static ::vle::Derivation {
                    const D: ::vle::Derivation = ::vle::Derivation { text: #text, latex: #latex };
                    &D
                }
                fn output<T: ::vle::Scalar>(params: &[T], state: &[T], r: &mut [T]) {
                    #out_rates
                    r[..#n_out].copy_from_slice(&r_out);
                }
                fn loss<T: ::vle::Scalar>(params: &[T], state: &[T], y: &[T]) -> T {
                    #out_rates
                    #loss
                    loss
                }
                fn loss_adjoint<T: ::vle::Scalar>(params: &[T], state: &[T], y: &[T], scale: T, adj: &mut [T], grad: &mut [T]) -> T {
                    #loss_adj
                }
                fn euler_step<T: ::vle::Scalar>(params: &[T], state: &mut [T], x: &[T], dt: T) {
                    #euler
                }
                fn euler_step_adjoint<T: ::vle::Scalar>(params: &[T], state: &[T], x: &[T], dt: T, adj_next: &[T], adj_prev: &mut [T], grad: &mut [T]) {
                    #euler_adj
                }
                fn rhs<T: ::vle::Scalar>(params: &[T], c: &[T], x: &[T], dc: &mut [T]) {
                    #rhs
                }
                fn refresh_prospective<T: ::vle::Scalar>(params: &[T], state: &mut [T], x: &[T]) {
                    #refresh
                }
                fn adjoint_rhs<T: ::vle::Scalar>(params: &[T], c: &[T], x: &[T], y: &[T], beta: T, costate: &[T], dcostate: &mut [T], errors: &mut [T], grad_density: &mut [T]) {
                    #adj_rhs
                }
                fn online_step<T: ::vle::Scalar>(params: &[T], state: &mut [T], local: &mut [T], x: &[T], y: &[T], beta: T, gamma: T, dt: T, grad: &mut [T]) {
                    #online
                }
                fn euler_step_batch<T: ::vle::Scalar>(params: &[T], states: &mut [T], xs: &[T], dt: T, batch: usize, scratch: &mut [T]) {
                    Self::euler_step_batch_recorded(params, states, xs, dt, batch, scratch, &mut []);
                }
                fn euler_step_batch_recorded<T: ::vle::Scalar>(params: &[T], states: &mut [T], xs: &[T], dt: T, batch: usize, scratch: &mut [T], inputs: &mut [T]) {
                    #euler_batch
                }
                fn euler_step_adjoint_batch<T: ::vle::Scalar>(params: &[T], states: &[T], xs: &[T], dt: T, adj_next: &[T], adj_prev: &mut [T], grad: &mut [T], batch: usize, scratch: &mut [T]) {
                    Self::euler_step_adjoint_batch_deferred(params, states, xs, dt, (adj_next, adj_prev), grad, batch, scratch, &[], (&mut [], 0, 0));
                }
                fn euler_step_adjoint_batch_deferred<T: ::vle::Scalar>(params: &[T], states: &[T], xs: &[T], dt: T, (adj_next, adj_prev): (&[T], &mut [T]), grad: &mut [T], batch: usize, scratch: &mut [T], inputs: &[T], (terms, slot, slots): (&mut [T], usize, usize)) {
                    #euler_adj_batch
                }
                fn weight_grad_from_terms<T: ::vle::Scalar>(terms: &[T], filled: usize, slots: usize, batch: usize, grad: &mut [T]) {
                    #wgrad_terms
                }
                fn online_step_batch<T: ::vle::Scalar>(params: &[T], states: &mut [T], locals: &mut [T], xs: &[T], ys: &[T], beta: T, gamma: T, dt: T, grad: &mut [T], batch: usize, scratch: &mut [T]) {
                    #online_batch
                }
            }
        }
    }
}
