//! Plain-text and LaTeX rendering with minimal parentheses.
//!
//! Both recurse along the expression depth and expand shared subexpressions (a DAG prints as a
//! tree); they are meant for documentation and diagnostics of small expressions.

use super::{Expr, Func, Graph, Node};

/// Binding strength of the outermost operator of a rendered string.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Prec {
    Add,
    Mul,
    Neg,
    Pow,
    Atom,
}

/// Text rendering rules; plain text and LaTeX differ only in these.
trait Style {
    fn var(&self, name: &str) -> String;
    fn num(&self, v: f64) -> String;
    fn paren(&self, s: &str) -> String;
    /// `num * ...` with `den` (empty when there is no denominator).
    fn product(&self, num: &[String], den: &[String]) -> (String, Prec);
    /// Whether a fraction's numerator and denominator are visibly grouped (`\frac{..}{..}`),
    /// so a lone sum there needs no parentheses.
    fn groups_fractions(&self) -> bool {
        false
    }
    fn power(&self, base: &str, exp: &str, exp_prec: Prec) -> String;
    fn func(&self, f: Func, arg: &str, arg_prec: Prec) -> String;
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v}")
    } else {
        format!("{v:?}")
    }
}

struct Plain;

impl Style for Plain {
    fn var(&self, name: &str) -> String {
        name.to_owned()
    }
    fn num(&self, v: f64) -> String {
        fmt_num(v)
    }
    fn paren(&self, s: &str) -> String {
        format!("({s})")
    }
    fn product(&self, num: &[String], den: &[String]) -> (String, Prec) {
        let n = if num.is_empty() {
            "1".to_owned()
        } else {
            num.join("*")
        };
        match den.len() {
            0 => (n, Prec::Mul),
            1 => (format!("{n}/{}", den[0]), Prec::Mul),
            _ => (format!("{n}/({})", den.join("*")), Prec::Mul),
        }
    }
    fn power(&self, base: &str, exp: &str, exp_prec: Prec) -> String {
        if exp_prec == Prec::Atom {
            format!("{base}^{exp}")
        } else {
            format!("{base}^({exp})")
        }
    }
    fn func(&self, f: Func, arg: &str, _: Prec) -> String {
        format!("{}({arg})", f.name())
    }
}

struct Latex<'a>(&'a dyn Fn(&str) -> String);

impl Style for Latex<'_> {
    fn var(&self, name: &str) -> String {
        (self.0)(name)
    }
    fn num(&self, v: f64) -> String {
        if v.is_infinite() {
            "\\infty".to_owned()
        } else if v.is_nan() {
            "\\mathrm{NaN}".to_owned()
        } else {
            fmt_num(v)
        }
    }
    fn paren(&self, s: &str) -> String {
        format!("\\left({s}\\right)")
    }
    fn product(&self, num: &[String], den: &[String]) -> (String, Prec) {
        let n = if num.is_empty() {
            "1".to_owned()
        } else {
            num.join(" ")
        };
        if den.is_empty() {
            (n, Prec::Mul)
        } else {
            // \frac groups its arguments, so the result binds like an atom.
            (format!("\\frac{{{n}}}{{{}}}", den.join(" ")), Prec::Atom)
        }
    }
    fn groups_fractions(&self) -> bool {
        true
    }
    fn power(&self, base: &str, exp: &str, _: Prec) -> String {
        format!("{base}^{{{exp}}}")
    }
    fn func(&self, f: Func, arg: &str, _: Prec) -> String {
        let name = match f {
            Func::Tanh => "\\tanh",
            Func::Sigmoid => "\\sigma",
            Func::Softplus => "\\operatorname{softplus}",
            Func::Exp => "\\exp",
            Func::Ln => "\\ln",
            Func::Sqrt => return format!("\\sqrt{{{arg}}}"),
            Func::Sin => "\\sin",
            Func::Cos => "\\cos",
        };
        format!("{name}\\left({arg}\\right)")
    }
}

impl Graph {
    /// Plain-text math, e.g. `tau_m*d_u + u - input`, `tanh(ubreve)`, `x^2`.
    pub fn display(&self, e: Expr) -> String {
        self.render(e, &Plain).0
    }

    /// LaTeX; `name` maps variable names to LaTeX (e.g. `d_u` to `\dot{u}`).
    pub fn latex(&self, e: Expr, name: &dyn Fn(&str) -> String) -> String {
        self.render(e, &Latex(name)).0
    }

    fn render_at(&self, e: Expr, st: &dyn Style, min: Prec) -> String {
        let (s, p) = self.render(e, st);
        if p < min {
            st.paren(&s)
        } else {
            s
        }
    }

    /// Splits a sum term into (is_negative, magnitude rendering).
    fn render_term(&self, t: Expr, st: &dyn Style) -> (bool, String) {
        match self.node(t) {
            Node::Num(bits) if f64::from_bits(*bits) < 0.0 => {
                (true, st.num(-f64::from_bits(*bits)))
            }
            Node::Mul(fs) => match self.as_const(fs[0]) {
                Some(c) if c < 0.0 => {
                    let (s, p) = self.render_product(-c, &fs[1..], st);
                    (true, if p < Prec::Mul { st.paren(&s) } else { s })
                }
                _ => (false, self.render_at(t, st, Prec::Mul)),
            },
            _ => (false, self.render_at(t, st, Prec::Mul)),
        }
    }

    fn render_product(&self, coef: f64, factors: &[Expr], st: &dyn Style) -> (String, Prec) {
        let mut num = Vec::new();
        let mut den = Vec::new();
        let neg = coef < 0.0;
        let mag = coef.abs();
        let is_den = |f: &Expr| matches!(self.node(*f), Node::Powi(_, k) if *k < 0);
        let n_den = factors.iter().filter(|f| is_den(f)).count();
        let n_num = factors.len() - n_den + usize::from(mag != 1.0);
        let grouped = st.groups_fractions() && n_den > 0;
        if mag != 1.0 {
            num.push(st.num(mag));
        }
        for &f in factors {
            match self.node(f) {
                Node::Powi(b, -1) if grouped && n_den == 1 => den.push(self.render(*b, st).0),
                Node::Powi(b, k) if *k < 0 => {
                    let b = self.render_at(*b, st, Prec::Atom);
                    den.push(if *k == -1 {
                        b
                    } else {
                        st.power(&b, &k.unsigned_abs().to_string(), Prec::Atom)
                    });
                }
                _ if grouped && n_num == 1 => num.push(self.render(f, st).0),
                _ => num.push(self.render_at(f, st, Prec::Neg)),
            }
        }
        let (s, p) = st.product(&num, &den);
        if neg {
            let s = if p < Prec::Mul { st.paren(&s) } else { s };
            (format!("-{s}"), Prec::Neg)
        } else if den.is_empty() && num.len() == 1 {
            // A lone factor (magnitude of `-x`) binds at least as tightly as a negation.
            (s, Prec::Neg)
        } else {
            (s, p)
        }
    }

    fn render(&self, e: Expr, st: &dyn Style) -> (String, Prec) {
        match self.node(e) {
            Node::Num(bits) => {
                let v = f64::from_bits(*bits);
                let p = if v < 0.0 { Prec::Neg } else { Prec::Atom };
                (st.num(v), p)
            }
            Node::Var(name) => (st.var(name), Prec::Atom),
            Node::Add(ts) => {
                let parts: Vec<(bool, String)> =
                    ts.iter().map(|&t| self.render_term(t, st)).collect();
                // Lead with a positive term when there is one: `b - a` rather than `-a + b`.
                let lead = parts.iter().position(|(neg, _)| !neg).unwrap_or(0);
                let mut s = String::new();
                if parts[lead].0 {
                    s.push('-');
                }
                s.push_str(&parts[lead].1);
                for (i, (neg, t)) in parts.iter().enumerate() {
                    if i != lead {
                        s.push_str(if *neg { " - " } else { " + " });
                        s.push_str(t);
                    }
                }
                (s, Prec::Add)
            }
            Node::Mul(fs) => match self.as_const(fs[0]) {
                Some(c) => self.render_product(c, &fs[1..], st),
                None => self.render_product(1.0, fs, st),
            },
            Node::Powi(b, k) => {
                if *k < 0 {
                    self.render_product(1.0, &[e], st)
                } else {
                    let base = self.render_at(*b, st, Prec::Atom);
                    (st.power(&base, &k.to_string(), Prec::Atom), Prec::Pow)
                }
            }
            Node::Powf(a, b) => {
                let base = self.render_at(*a, st, Prec::Atom);
                let (ex, p) = self.render(*b, st);
                (st.power(&base, &ex, p), Prec::Pow)
            }
            Node::Func(f, a) => {
                let (arg, p) = self.render(*a, st);
                (st.func(*f, &arg, p), Prec::Atom)
            }
        }
    }
}
