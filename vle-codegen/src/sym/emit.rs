//! Rust code emission with common-subexpression sharing.
//!
//! Generated code is generic over `T: ::vle::Scalar` and uses `T::from_f64`, the arithmetic
//! operators (including unary `-`) and the `Scalar` methods named by [`super::Func::name`], `powi` and
//! `powf`. Only `let` statements are produced, so the output can live in any block.

use std::collections::{HashMap, HashSet};

use proc_macro2::{Delimiter, Group, Ident, Literal, Span, TokenStream, TokenTree};
use quote::quote;

use super::{Expr, Graph, Node};

/// Rust keywords (all editions, strict and reserved) that cannot be plain identifiers.
const KEYWORDS: &[&str] = &[
    "_", "abstract", "as", "async", "await", "become", "box", "break", "const", "continue",
    "crate", "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if",
    "impl", "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub",
    "ref", "return", "Self", "self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Binding strength of an emitted Rust expression's outermost operator.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Prec {
    Add,
    Mul,
    Neg,
    Atom,
}

/// Emits `let` statements for expressions of one [`Graph`], sharing subexpressions across
/// all `emit` calls on the same emitter.
pub struct Emitter<'g> {
    g: &'g Graph,
    bindings: HashMap<String, (TokenStream, Prec)>,
    hints: HashMap<Expr, String>,
    /// Nodes bound by a `let` in this or an earlier call, with their identifier.
    done: HashMap<Expr, Ident>,
    /// Bound products by their non-constant factors, for reuse under another coefficient.
    done_products: HashMap<Vec<Expr>, (f64, Ident)>,
    used: HashSet<String>,
    next_tmp: usize,
    /// Number of parent nodes of each node in the whole graph. The graph is borrowed for the
    /// emitter's lifetime, so every expression a later `emit` call can ask for already exists
    /// and a node with one parent can only ever be needed once.
    parents: Vec<u32>,
}

fn paren(ts: TokenStream) -> TokenStream {
    TokenTree::Group(Group::new(Delimiter::Parenthesis, ts)).into()
}

fn at_least((ts, p): (TokenStream, Prec), min: Prec) -> TokenStream {
    if p < min {
        paren(ts)
    } else {
        ts
    }
}

/// `T::from_f64(v)`; non-finite values use the `f64` associated constants.
fn constant(v: f64) -> TokenStream {
    let lit = if v.is_nan() {
        quote!(f64::NAN)
    } else if v.is_infinite() {
        if v > 0.0 {
            quote!(f64::INFINITY)
        } else {
            quote!(f64::NEG_INFINITY)
        }
    } else {
        let mag = v.abs();
        // `{:?}` is the shortest round-trip form and always a valid float literal (`2.0`, `1e-7`).
        let l = format!("{mag:?}")
            .parse::<Literal>()
            .unwrap_or_else(|_| Literal::f64_unsuffixed(mag));
        if v < 0.0 {
            quote!(-#l)
        } else {
            quote!(#l)
        }
    };
    quote!(T::from_f64(#lit))
}

/// Unsuffixed integer literal (`3`, `-2`), so it reads like hand-written code.
fn int(k: i32) -> TokenStream {
    let l = Literal::u32_unsuffixed(k.unsigned_abs());
    if k < 0 {
        quote!(-#l)
    } else {
        quote!(#l)
    }
}

/// `a * b * ...` (left-associated).
fn join_mul(items: Vec<TokenStream>) -> TokenStream {
    let mut it = items.into_iter();
    let first = it.next().unwrap_or_default();
    it.fold(first, |acc, x| quote!(#acc * #x))
}

fn collect_idents(ts: &TokenStream, out: &mut HashSet<String>) {
    for tt in ts.clone() {
        match tt {
            TokenTree::Ident(i) => {
                out.insert(i.to_string());
            }
            TokenTree::Group(g) => collect_idents(&g.stream(), out),
            _ => {}
        }
    }
}

/// Whether a bound value can be used as an operand without parentheses.
fn binding_prec(ts: &TokenStream) -> Prec {
    match syn::parse2::<syn::Expr>(ts.clone()) {
        Ok(
            syn::Expr::Path(_)
            | syn::Expr::Index(_)
            | syn::Expr::Field(_)
            | syn::Expr::MethodCall(_)
            | syn::Expr::Call(_)
            | syn::Expr::Paren(_)
            | syn::Expr::Macro(_),
        ) => Prec::Atom,
        Ok(syn::Expr::Lit(l)) if !matches!(l.lit, syn::Lit::Float(_) | syn::Lit::Int(_)) => {
            Prec::Atom
        }
        _ => Prec::Add,
    }
}

/// ASCII identifier derived from `name`: invalid characters become `_`, a leading digit or a
/// keyword gets an extra `_`.
fn sanitize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    if KEYWORDS.contains(&s.as_str()) {
        s.push('_');
    }
    s
}

impl<'g> Emitter<'g> {
    /// An emitter for expressions of `g`, with no bindings yet (`T`, the kernels' type
    /// parameter, is never used for a `let`).
    pub fn new(g: &'g Graph) -> Self {
        let mut parents = vec![0u32; g.node_count()];
        for i in 0..g.node_count() {
            g.for_each_child(Expr(i as u32), |c| {
                if let Some(p) = parents.get_mut(c.0 as usize) {
                    *p = p.saturating_add(1);
                }
            });
        }
        Emitter {
            g,
            bindings: HashMap::new(),
            hints: HashMap::new(),
            done: HashMap::new(),
            done_products: HashMap::new(),
            // `T` is the generated kernel's type parameter.
            used: HashSet::from(["T".to_owned()]),
            next_tmp: 0,
            parents,
        }
    }

    /// Map a Var (by name) to the Rust expression that holds its value (e.g. `u`, `s[i]`,
    /// `p[OFF + i]`). Identifiers inside `value` are never reused for `let` names, so bind every
    /// variable before the first `emit` (later lets could otherwise shadow them).
    pub fn bind(&mut self, var: &str, value: TokenStream) {
        collect_idents(&value, &mut self.used);
        let p = binding_prec(&value);
        self.bindings.insert(var.to_owned(), (value, p));
    }

    /// Keep `ident` free: no `let` emitted by this emitter will use it (for names the
    /// surrounding code relies on).
    pub fn reserve(&mut self, ident: &str) {
        self.used.insert(ident.to_owned());
    }

    /// Suggest a readable name for the let-binding of a subexpression (e.g. "phi_prime").
    /// A hinted compound expression is always bound by its own `let` when it is emitted.
    pub fn hint(&mut self, e: Expr, name: &str) {
        self.hints.insert(e, name.to_owned());
    }

    fn fresh(&mut self, base: &str) -> Ident {
        let base = sanitize(base);
        let mut name = base.clone();
        let mut k = 1;
        while self.used.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.used.insert(name.clone());
        Ident::new(&name, Span::call_site())
    }

    fn fresh_tmp(&mut self) -> Ident {
        loop {
            let name = format!("t{}", self.next_tmp);
            self.next_tmp += 1;
            if !self.used.contains(&name) {
                self.used.insert(name.clone());
                return Ident::new(&name, Span::call_site());
            }
        }
    }

    /// A node whose value needs no computation here.
    fn is_atom(&self, e: Expr) -> bool {
        matches!(self.g.node(e), Node::Num(_) | Node::Var(_)) || self.done.contains_key(&e)
    }

    /// Emit `let` statements computing each output; returns the statements and, per output, a
    /// token expression (an identifier or a trivial atom) holding its value.
    ///
    /// A compound subexpression gets its own `let` when it is an output, has more than one
    /// parent in the graph (so it may be needed again, in this call or a later one), is a
    /// function call or `powf` (expensive), is hinted, or is the base of a square (rendered
    /// `x * x`). Everything bound by a `let` here or in an earlier call is reused; single-use
    /// arithmetic is inlined. Output names are sanitised and made unique (`x` -> `x_1` when `x`
    /// is taken), so always use the returned tokens rather than the requested name.
    /// Fails with the variable's name if a free variable has no binding.
    pub fn emit(
        &mut self,
        outputs: &[(&str, Expr)],
    ) -> Result<(Vec<TokenStream>, Vec<TokenStream>), String> {
        let g = self.g;
        let roots: Vec<Expr> = outputs.iter().map(|&(_, e)| e).collect();
        let nodes = g.reachable(&roots, |n| self.done.contains_key(&n));

        // Validate before touching any state, so a failed call changes nothing.
        let mut unbound: Vec<&str> = nodes
            .iter()
            .filter_map(|&n| g.var_name(n))
            .filter(|name| !self.bindings.contains_key(*name))
            .collect();
        unbound.sort_unstable();
        if let Some(name) = unbound.first() {
            return Err((*name).to_owned());
        }

        let mut force: HashSet<Expr> = HashSet::new();
        for &n in &nodes {
            if self.is_atom(n) {
                continue;
            }
            match g.node(n) {
                Node::Func(..) | Node::Powf(..) => {
                    force.insert(n);
                }
                Node::Powi(b, 2 | -2) => {
                    force.insert(*b);
                }
                _ => {}
            }
        }
        let mut out_name: HashMap<Expr, &str> = HashMap::new();
        for &(name, e) in outputs.iter().rev() {
            out_name.insert(e, name);
        }

        let mut stmts = Vec::new();
        for &n in &nodes {
            if self.is_atom(n) {
                continue;
            }
            let bind = out_name.contains_key(&n)
                || self.parents.get(n.0 as usize).copied().unwrap_or(0) >= 2
                || force.contains(&n)
                || self.hints.contains_key(&n);
            if !bind {
                continue;
            }
            // Children precede parents, so everything this node references is settled.
            let (value, _) = self.inline(n);
            let ident = match (out_name.get(&n), self.hints.get(&n)) {
                (Some(name), _) => self.fresh(name),
                (None, Some(h)) => {
                    let h = h.clone();
                    self.fresh(&h)
                }
                (None, None) => self.fresh_tmp(),
            };
            stmts.push(quote!(let #ident = #value;));
            if let Node::Mul(_) = g.node(n) {
                let (c, rest) = g.split_coeff(n);
                if rest.len() >= 2 {
                    self.done_products.entry(rest).or_insert((c, ident.clone()));
                }
            }
            self.done.insert(n, ident);
        }

        let values = roots.iter().map(|&e| self.reference(e).0).collect();
        Ok((stmts, values))
    }

    /// Tokens referring to the value of `e`: an identifier, binding or constant if available,
    /// otherwise the inline computation. (Only called after validation.)
    fn reference(&self, e: Expr) -> (TokenStream, Prec) {
        if let Some(id) = self.done.get(&e) {
            return (quote!(#id), Prec::Atom);
        }
        match self.g.node(e) {
            Node::Num(bits) => (constant(f64::from_bits(*bits)), Prec::Atom),
            Node::Var(name) => match self.bindings.get(&**name) {
                Some((ts, p)) => (ts.clone(), *p),
                None => (quote!(#name), Prec::Atom),
            },
            _ => self.inline(e),
        }
    }

    fn operand(&self, e: Expr, min: Prec) -> TokenStream {
        at_least(self.reference(e), min)
    }

    /// The computation of `e` itself (ignoring any `let` already bound to it).
    fn inline(&self, e: Expr) -> (TokenStream, Prec) {
        let g = self.g;
        match g.node(e) {
            Node::Num(_) | Node::Var(_) => self.reference(e),
            Node::Add(ts) => self.sum(ts),
            Node::Mul(fs) => match g.as_const(fs[0]) {
                Some(c) => self.product(c, &fs[1..]),
                None => self.product(1.0, fs),
            },
            Node::Powi(b, k) => match *k {
                2 => self.square(*b),
                k if k < 0 => {
                    let one = constant(1.0);
                    let den = self.denominator(*b, k);
                    (quote!(#one / #den), Prec::Mul)
                }
                k => {
                    let b = self.operand(*b, Prec::Atom);
                    let k = int(k);
                    (quote!(#b.powi(#k)), Prec::Atom)
                }
            },
            Node::Powf(a, b) => {
                let a = self.operand(*a, Prec::Atom);
                let b = self.operand(*b, Prec::Add);
                (quote!(#a.powf(#b)), Prec::Atom)
            }
            Node::Func(f, a) => {
                let a = self.operand(*a, Prec::Atom);
                let m = Ident::new(f.name(), Span::call_site());
                (quote!(#a.#m()), Prec::Atom)
            }
        }
    }

    /// `b * b`; `b` is always bound to a name or atomic (see `force` in `emit`).
    fn square(&self, b: Expr) -> (TokenStream, Prec) {
        let b = self.operand(b, Prec::Atom);
        (quote!(#b * #b), Prec::Mul)
    }

    /// A divisor for `b^k` (k < 0), parenthesised when needed.
    fn denominator(&self, b: Expr, k: i32) -> TokenStream {
        match k {
            -1 => self.operand(b, Prec::Neg),
            -2 => paren(self.square(b).0),
            k => {
                let b = self.operand(b, Prec::Atom);
                // b^k = 1 / b^|k|, but |i32::MIN| does not fit an i32.
                match k.checked_neg() {
                    Some(m) => {
                        let m = int(m);
                        quote!(#b.powi(#m))
                    }
                    None => {
                        let one = constant(1.0);
                        let k = int(k);
                        paren(quote!(#one / #b.powi(#k)))
                    }
                }
            }
        }
    }

    /// Splits a sum term into (is_negative, magnitude).
    fn term(&self, t: Expr) -> (bool, (TokenStream, Prec)) {
        if !self.done.contains_key(&t) {
            match self.g.node(t) {
                Node::Num(bits) if f64::from_bits(*bits) < 0.0 => {
                    return (true, (constant(-f64::from_bits(*bits)), Prec::Atom));
                }
                Node::Mul(fs) => {
                    if let Some(c) = self.g.as_const(fs[0]) {
                        if c < 0.0 {
                            return (true, self.product(-c, &fs[1..]));
                        }
                    }
                }
                _ => {}
            }
        }
        (false, self.reference(t))
    }

    fn sum(&self, ts: &[Expr]) -> (TokenStream, Prec) {
        let parts: Vec<(bool, (TokenStream, Prec))> = ts.iter().map(|&t| self.term(t)).collect();
        // Lead with a positive term when there is one, to avoid a unary minus.
        let lead = parts.iter().position(|(neg, _)| !neg).unwrap_or(0);
        let mut out = {
            let (neg, (ts, p)) = &parts[lead];
            if *neg {
                let ts = at_least((ts.clone(), *p), Prec::Mul);
                quote!(-#ts)
            } else {
                ts.clone()
            }
        };
        for (i, (neg, v)) in parts.into_iter().enumerate() {
            if i == lead {
                continue;
            }
            let v = at_least(v, Prec::Mul);
            out = if neg {
                quote!(#out - #v)
            } else {
                quote!(#out + #v)
            };
        }
        (out, Prec::Add)
    }

    /// `coef * factors`, with inline negative powers turned into a division.
    fn product(&self, coef: f64, factors: &[Expr]) -> (TokenStream, Prec) {
        let g = self.g;
        // Same factors as an already bound product: scale that value (`3 * x * y` from `x * y`).
        if let Some((c0, id)) = self.done_products.get(factors) {
            let ratio = coef / c0;
            if ratio == 1.0 {
                return (quote!(#id), Prec::Atom);
            } else if ratio == -1.0 {
                return (quote!(-#id), Prec::Neg);
            } else if ratio.is_finite() && ratio != 0.0 {
                let k = constant(ratio);
                return (quote!(#k * #id), Prec::Mul);
            }
        }
        let mut num: Vec<(TokenStream, Prec)> = Vec::new();
        let mut den: Vec<TokenStream> = Vec::new();
        if coef != 1.0 && coef != -1.0 {
            num.push((constant(coef), Prec::Atom));
        }
        for &f in factors {
            match g.node(f) {
                Node::Powi(b, k) if *k < 0 && !self.done.contains_key(&f) => {
                    den.push(self.denominator(*b, *k));
                }
                _ => num.push(self.reference(f)),
            }
        }
        let (mut ts, mut p) = match num.len() {
            0 => (constant(1.0), Prec::Atom),
            1 => num.pop().unwrap_or((constant(1.0), Prec::Atom)),
            _ => {
                let items: Vec<TokenStream> =
                    num.into_iter().map(|v| at_least(v, Prec::Mul)).collect();
                (join_mul(items), Prec::Mul)
            }
        };
        if !den.is_empty() {
            ts = at_least((ts, p), Prec::Mul);
            let d = if den.len() == 1 {
                den.pop().unwrap_or_default()
            } else {
                paren(join_mul(den))
            };
            ts = quote!(#ts / #d);
            p = Prec::Mul;
        }
        if coef == -1.0 {
            // `-a * b` parses as `(-a) * b`, which equals `-(a * b)` exactly in IEEE arithmetic.
            let inner = at_least((ts, p), Prec::Mul);
            (quote!(-#inner), p.min(Prec::Neg))
        } else {
            (ts, p)
        }
    }
}
