//! The human-readable derivation (plain text and LaTeX) stored on the generated type.

use std::fmt::Write;

use crate::sym::{Expr, Graph};
use crate::validate::{Layer, Loss, Net, SourceKind};

/// LaTeX for a symbol name: `tau_m` → `\tau_{m}`, `d_u` → `\dot{u}`, `costate_u` → `P_{u}`.
fn latex_name(name: &str, prospective: &str) -> String {
    let greek = |s: &str| -> String {
        const G: &[&str] = &[
            "alpha", "beta", "gamma", "delta", "epsilon", "eta", "theta", "kappa", "lambda", "mu",
            "nu", "xi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega",
        ];
        if G.contains(&s) {
            format!("\\{s}")
        } else if s.len() == 1 {
            s.to_string()
        } else {
            format!("\\mathrm{{{}}}", s.replace('_', "\\_"))
        }
    };
    let sub = |base: &str, rest: &str| -> String {
        if rest.is_empty() {
            greek(base)
        } else {
            format!("{}_{{{}}}", greek(base), rest.replace('_', ","))
        }
    };
    if name == "input" {
        return "I".into();
    }
    if name == "p" {
        return latex_name(prospective, "");
    }
    if name == "g_r" {
        return "g_{r}".into();
    }
    if name == "g_r_rec" {
        return "g_{r}^{\\mathrm{rec}}".into();
    }
    for (prefix, wrap) in [("d_", "\\dot{"), ("costate_", "P_{"), ("v_", "v_{")] {
        if let Some(rest) = name.strip_prefix(prefix) {
            return format!("{wrap}{}}}", latex_name(rest, prospective));
        }
    }
    match name.split_once('_') {
        Some((base, rest)) => sub(base, rest),
        None => greek(name),
    }
}

struct Writer<'a> {
    text: String,
    latex: String,
    prospective: &'a str,
}

impl Writer<'_> {
    fn line(&mut self, text: &str) {
        self.text.push_str(text);
        self.text.push('\n');
    }
    fn eq(&mut self, g: &mut Graph, lhs_text: &str, lhs_latex: &str, e: Expr) {
        // The carried prospective value `p` is shown under the prospective's own name.
        let p = g.var("p");
        let named = g.var(self.prospective);
        let e = g.subs(e, &[(p, named)]);
        let _ = writeln!(self.text, "    {lhs_text} = {}", g.display(e));
        let p = self.prospective.to_string();
        let _ = writeln!(
            self.latex,
            "{lhs_latex} &= {} \\\\",
            g.latex(e, &|n| latex_name(n, &p))
        );
    }
    fn section(&mut self, title: &str) {
        self.line(title);
        let _ = writeln!(self.latex, "\\intertext{{{}}}", title.replace('_', "\\_"));
    }
}

fn layer_text(w: &mut Writer, net: &Net, layer: &mut Layer) {
    let s = &mut layer.sym;
    let sources: Vec<String> = layer
        .sources
        .iter()
        .map(|src| match src.kind {
            SourceKind::Recurrent => format!("{} (recurrent)", src.name),
            _ => src.name.clone(),
        })
        .collect();
    w.section(&format!(
        "Layer {} ({} x {}), input = W r_pre{} from {}",
        layer.name,
        layer.size,
        s.neuron,
        if layer.bias { " + b" } else { "" },
        sources.join(", ")
    ));
    w.line("  mismatches (m = 0 defines the dynamics):");
    for (k, name) in s.mismatch_names.clone().iter().enumerate() {
        let e = s.m[k];
        w.eq(&mut s.g, name, &latex_name(name, ""), e);
    }
    w.line("  forward dynamics, solved from the mismatches:");
    for (k, st) in s.states.clone().iter().enumerate() {
        let f = s.f[k];
        w.eq(
            &mut s.g,
            &format!("d({st})/dt"),
            &format!("\\dot{{{}}}", latex_name(st, "")),
            f,
        );
    }
    let pn = s.prospective_name.clone();
    let rn = s.rate_name.clone();
    w.line("  prospective quantity and rate:");
    w.eq(&mut s.g, &pn, &latex_name(&pn, ""), s.prosp);
    w.eq(&mut s.g, &rn, &latex_name(&rn, ""), s.rate);
    if let Some(adj) = s.adjoint() {
        w.line("  exact adjoint (Euler-Lagrange of L = sum_j lam_j m_j + g_r r, momentum form):");
        w.line("    P_k = dL/d(ds_k/dt), terminal condition P_k(T) = 0, g_r = sum_post W^T q_post + beta dl/dr");
        for (k, name) in s.mismatch_names.clone().iter().enumerate() {
            w.eq(
                &mut s.g,
                &format!("lam_{name}"),
                &format!("\\lambda_{{{}}}", name.replace('_', ",")),
                adj.lambda[k],
            );
        }
        for (k, st) in s.states.clone().iter().enumerate() {
            w.eq(
                &mut s.g,
                &format!("d(P_{st})/dt"),
                &format!("\\dot{{P}}_{{{st}}}"),
                adj.d_costate[k],
            );
        }
        w.eq(&mut s.g, "q (error at the input is -q)", "q", adj.q);
        for (k, p) in s.params.clone().iter().enumerate() {
            w.eq(
                &mut s.g,
                &format!("dL/d{p} density"),
                &format!("\\partial_{{{}}} \\mathcal{{L}}", latex_name(p, "")),
                adj.grad_theta[k],
            );
        }
        w.line("    dL/dW = int q r_pre^T dt,  dL/db = int q dt");
    }
    let recurrent = layer
        .sources
        .iter()
        .any(|src| src.kind == SourceKind::Recurrent);
    if let Some(loc) = s.local(recurrent) {
        w.line(
            "  local rule (error neuron = linearised inverse of the input->prospective filter):",
        );
        w.eq(&mut s.g, "e_hat", "\\hat{e}", loc.e_hat);
        for (k, st) in s.states.clone().iter().enumerate() {
            w.eq(
                &mut s.g,
                &format!("d(v_{st})/dt"),
                &format!("\\dot{{v}}_{{{st}}}"),
                loc.dv[k],
            );
        }
        if let Some(eps_rec) = loc.eps_rec {
            w.line("    g_r_rec: the rate sensitivity through the recurrent projection; it bypasses the");
            w.line("    error neuron and enters eps through the neuron's steady-state map:");
            w.eq(&mut s.g, "eps_rec", "\\varepsilon^{\\mathrm{rec}}", eps_rec);
        }
        w.eq(
            &mut s.g,
            "eps (error at the input)",
            "\\varepsilon",
            loc.eps,
        );
        for (k, p) in s.params.clone().iter().enumerate() {
            w.eq(
                &mut s.g,
                &format!("local dL/d{p}"),
                &format!("\\hat{{g}}_{{{}}}", latex_name(p, "")),
                loc.grad_theta[k],
            );
        }
        w.line("    local dL/dW = -eps r_pre^T,  local dL/db = -eps");
    }
    let _ = net;
}

/// Plain text and LaTeX of every derived equation.
pub fn derivation(net: &mut Net) -> (String, String) {
    let mut w = Writer {
        text: String::new(),
        latex: String::new(),
        prospective: "",
    };
    let loss = match &net.loss {
        Loss::Mse => "0.5 |r - y|^2".to_string(),
        Loss::CrossEntropy => "-sum_i y_i ln softmax(r)_i".to_string(),
        Loss::Sum { source, .. } => format!("sum_i {source}"),
    };
    let out = net.layers[net.output].name.clone();
    w.line(&format!(
        "Network {}: input {} ({}), energy E = 0.5 sum |m|^2 + beta l, l = {loss} on {out}",
        net.name, net.input_name, net.input_size
    ));
    w.latex.push_str("\\begin{align*}\n");
    let mut layers = std::mem::take(&mut net.layers);
    for layer in layers.iter_mut() {
        let pn = layer.sym.prospective_name.clone();
        let mut lw = Writer {
            text: String::new(),
            latex: String::new(),
            prospective: &pn,
        };
        layer_text(&mut lw, net, layer);
        w.text.push_str(&lw.text);
        w.latex.push_str(&lw.latex);
    }
    net.layers = layers;
    w.latex.push_str("\\end{align*}\n");
    (w.text, w.latex)
}
