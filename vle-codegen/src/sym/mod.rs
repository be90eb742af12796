//! Symbolic scalar expressions: a hash-consed DAG with simplifying constructors,
//! memoised differentiation, substitution, evaluation, pretty-printing, a small
//! symbolic linear solver and a Rust code emitter with common-subexpression sharing.
//!
//! Canonical form (what the constructors maintain, so that equal expressions share a node):
//! - `Add` is flat (no `Add` terms), has >= 2 entries, like terms collected, terms sorted by
//!   node index, and the non-zero constant (if any) stored last.
//! - `Mul` is flat, has >= 2 entries, equal bases merged into `Powi`, factors sorted by node index,
//!   and the numeric coefficient (if not 1) stored first. A numeric coefficient times a small sum
//!   is distributed (`-(a - b)` becomes `b - a`); large sums are left alone so that repeated
//!   scaling cannot grow expressions quadratically.
//! - Subtraction, negation and division are `a + (-1)*b`, `(-1)*a`, `a * b^-1`.
//!
//! Children always have smaller indices than their parents, so index order is a topological
//! order; the traversals below rely on this and are iterative (no recursion depth limits),
//! except `display`/`latex`, which recurse along the expression depth.
//!
//! An `Expr` is only meaningful for the `Graph` that created it. A foreign index that is out of
//! range is treated as the constant NaN instead of panicking.

use std::collections::{HashMap, HashSet};

mod diff;
mod display;
mod emit;
mod linalg;
#[cfg(test)]
mod tests;

pub use emit::Emitter;
pub use linalg::solve_linear;

/// Handle to a node of a [`Graph`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Expr(u32);

/// Elementary functions known to the engine (and to `::vle::Scalar`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Func {
    /// tanh x.
    Tanh,
    /// The logistic function 1/(1 + e^−x).
    Sigmoid,
    /// ln(1 + e^x).
    Softplus,
    /// e^x.
    Exp,
    /// The natural logarithm, `ln` (models may not write `log`).
    Ln,
    /// √x.
    Sqrt,
    /// sin x.
    Sin,
    /// cos x.
    Cos,
}

impl Func {
    /// All functions, in declaration order.
    pub const ALL: [Func; 8] = [
        Func::Tanh,
        Func::Sigmoid,
        Func::Softplus,
        Func::Exp,
        Func::Ln,
        Func::Sqrt,
        Func::Sin,
        Func::Cos,
    ];

    /// The function called `name` in model source (`"tanh"`, `"sigmoid"`, ...).
    pub fn from_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Source name; also the name of the `Scalar` method that computes it.
    pub fn name(self) -> &'static str {
        match self {
            Func::Tanh => "tanh",
            Func::Sigmoid => "sigmoid",
            Func::Softplus => "softplus",
            Func::Exp => "exp",
            Func::Ln => "ln",
            Func::Sqrt => "sqrt",
            Func::Sin => "sin",
            Func::Cos => "cos",
        }
    }

    /// Evaluates the function on an `f64`; sigmoid and softplus use overflow-safe forms.
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Func::Tanh => x.tanh(),
            Func::Sigmoid => {
                if x >= 0.0 {
                    1.0 / (1.0 + (-x).exp())
                } else {
                    let e = x.exp();
                    e / (1.0 + e)
                }
            }
            Func::Softplus => {
                if x > 0.0 {
                    x + (-x).exp().ln_1p()
                } else {
                    x.exp().ln_1p()
                }
            }
            Func::Exp => x.exp(),
            Func::Ln => x.ln(),
            Func::Sqrt => x.sqrt(),
            Func::Sin => x.sin(),
            Func::Cos => x.cos(),
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum Node {
    /// f64 bits, with -0.0 and NaN payloads canonicalised so equal values hash equal.
    Num(u64),
    Var(Box<str>),
    Add(Box<[Expr]>),
    Mul(Box<[Expr]>),
    Powi(Expr, i32),
    Powf(Expr, Expr),
    Func(Func, Expr),
}

const NAN_NODE: Node = Node::Num(0x7ff8_0000_0000_0000);

/// Numeric sums are distributed over sums with at most this many terms (see module docs).
const DISTRIBUTE_MAX_TERMS: usize = 4;

fn canon_bits(v: f64) -> u64 {
    if v == 0.0 {
        0
    } else if v.is_nan() {
        f64::NAN.to_bits()
    } else {
        v.to_bits()
    }
}

/// Hash-consed DAG of scalar expressions.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    nodes: Vec<Node>,
    index: HashMap<Node, Expr>,
    diff_memo: HashMap<(Expr, Expr), Expr>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of distinct nodes created so far.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    fn node(&self, e: Expr) -> &Node {
        self.nodes.get(e.0 as usize).unwrap_or(&NAN_NODE)
    }

    /// Maps a foreign (out-of-range) handle to NaN so that parent indices stay larger than
    /// child indices.
    fn check(&mut self, e: Expr) -> Expr {
        if (e.0 as usize) < self.nodes.len() {
            e
        } else {
            self.num(f64::NAN)
        }
    }

    fn intern(&mut self, n: Node) -> Expr {
        if let Some(&e) = self.index.get(&n) {
            return e;
        }
        // More than u32::MAX nodes would exhaust memory long before; saturate rather than panic.
        let e = Expr(u32::try_from(self.nodes.len()).unwrap_or(u32::MAX));
        self.nodes.push(n.clone());
        self.index.insert(n, e);
        e
    }

    /// The variable called `name` (the same node for every call with that name).
    pub fn var(&mut self, name: &str) -> Expr {
        self.intern(Node::Var(name.into()))
    }

    /// The constant `v` (−0.0 is stored as 0.0, every NaN as one NaN).
    pub fn num(&mut self, v: f64) -> Expr {
        self.intern(Node::Num(canon_bits(v)))
    }

    /// a + b, simplified (flattened, like terms collected, constants folded).
    pub fn add(&mut self, a: Expr, b: Expr) -> Expr {
        self.add_n(vec![a, b])
    }

    /// a − b, stored as a + (−1)·b.
    pub fn sub(&mut self, a: Expr, b: Expr) -> Expr {
        let nb = self.neg(b);
        self.add_n(vec![a, nb])
    }

    /// a · b, simplified (flattened, equal bases merged into powers, constants folded).
    pub fn mul(&mut self, a: Expr, b: Expr) -> Expr {
        self.mul_n(vec![a, b])
    }

    /// a / b, stored as a · b⁻¹.
    pub fn div(&mut self, a: Expr, b: Expr) -> Expr {
        let inv = self.powi(b, -1);
        self.mul_n(vec![a, inv])
    }

    /// −a, stored as (−1)·a.
    pub fn neg(&mut self, a: Expr) -> Expr {
        let m1 = self.num(-1.0);
        self.mul_n(vec![m1, a])
    }

    /// Sum of `terms`; 0 for an empty slice.
    pub fn sum(&mut self, terms: &[Expr]) -> Expr {
        self.add_n(terms.to_vec())
    }

    /// Product of `factors`; 1 for an empty slice.
    pub fn product(&mut self, factors: &[Expr]) -> Expr {
        self.mul_n(factors.to_vec())
    }

    /// aⁿ for an integer exponent (a⁰ = 1, a¹ = a, (aᵐ)ⁿ = aᵐⁿ, (x·y)ⁿ = xⁿ·yⁿ).
    pub fn powi(&mut self, a: Expr, n: i32) -> Expr {
        let a = self.check(a);
        if n == 0 {
            return self.num(1.0);
        }
        if n == 1 {
            return a;
        }
        match self.node(a).clone() {
            Node::Num(bits) => self.num(f64::from_bits(bits).powi(n)),
            Node::Powi(b, m) => match m.checked_mul(n) {
                Some(k) => self.powi(b, k),
                None => self.intern(Node::Powi(a, n)),
            },
            // (x*y)^n = x^n * y^n holds exactly for integer n; it lets quotients cancel.
            Node::Mul(fs) => {
                let parts: Vec<Expr> = fs.iter().map(|&f| self.powi(f, n)).collect();
                self.mul_n(parts)
            }
            _ => self.intern(Node::Powi(a, n)),
        }
    }

    /// a^b; an integer constant exponent becomes [`Graph::powi`], two constants are folded.
    pub fn powf(&mut self, a: Expr, b: Expr) -> Expr {
        let a = self.check(a);
        let b = self.check(b);
        if let Some(p) = self.as_const(b) {
            if p.fract() == 0.0 && p >= f64::from(i32::MIN) && p <= f64::from(i32::MAX) {
                return self.powi(a, p as i32);
            }
            if let Some(x) = self.as_const(a) {
                return self.num(x.powf(p));
            }
        }
        if self.as_const(a) == Some(1.0) {
            // 1^y is 1 for every y in IEEE (even NaN).
            return a;
        }
        self.intern(Node::Powf(a, b))
    }

    /// f(a); folded to a constant when `a` is one.
    pub fn func(&mut self, f: Func, a: Expr) -> Expr {
        let a = self.check(a);
        match self.as_const(a) {
            Some(x) => self.num(f.apply(x)),
            None => self.intern(Node::Func(f, a)),
        }
    }

    /// Splits a term into (numeric coefficient, remaining factors).
    fn split_coeff(&self, t: Expr) -> (f64, Vec<Expr>) {
        if let Node::Mul(fs) = self.node(t) {
            if let Some(c) = self.as_const(fs[0]) {
                return (c, fs[1..].to_vec());
            }
            return (1.0, fs.to_vec());
        }
        (1.0, vec![t])
    }

    fn add_n(&mut self, terms: Vec<Expr>) -> Expr {
        let mut konst = 0.0;
        let mut flat = Vec::with_capacity(terms.len());
        for t in terms {
            let t = self.check(t);
            match self.node(t) {
                Node::Num(bits) => konst += f64::from_bits(*bits),
                Node::Add(ts) => {
                    for &u in ts.iter() {
                        match self.node(u) {
                            Node::Num(bits) => konst += f64::from_bits(*bits),
                            _ => flat.push(u),
                        }
                    }
                }
                _ => flat.push(t),
            }
        }
        // Collect like terms: c1*x + c2*x -> (c1+c2)*x.
        let mut groups: Vec<(Vec<Expr>, f64)> = Vec::new();
        let mut pos: HashMap<Vec<Expr>, usize> = HashMap::new();
        for t in flat {
            let (c, rest) = self.split_coeff(t);
            match pos.get(&rest) {
                Some(&i) => groups[i].1 += c,
                None => {
                    pos.insert(rest.clone(), groups.len());
                    groups.push((rest, c));
                }
            }
        }
        let mut out = Vec::with_capacity(groups.len() + 1);
        for (rest, c) in groups {
            if c == 0.0 {
                continue;
            }
            let t = if c == 1.0 && rest.len() == 1 {
                rest[0]
            } else if c == 1.0 {
                self.intern(Node::Mul(rest.into()))
            } else {
                let cn = self.num(c);
                let mut fs = Vec::with_capacity(rest.len() + 1);
                fs.push(cn);
                fs.extend(rest);
                self.intern(Node::Mul(fs.into()))
            };
            out.push(t);
        }
        out.sort();
        if konst != 0.0 || konst.is_nan() {
            let k = self.num(konst);
            out.push(k);
        }
        match out.len() {
            0 => self.num(0.0),
            1 => out[0],
            _ => self.intern(Node::Add(out.into())),
        }
    }

    fn mul_n(&mut self, factors: Vec<Expr>) -> Expr {
        let mut coef = 1.0;
        let mut flat = Vec::with_capacity(factors.len());
        for f in factors {
            let f = self.check(f);
            match self.node(f) {
                Node::Num(bits) => coef *= f64::from_bits(*bits),
                Node::Mul(fs) => {
                    for &u in fs.iter() {
                        match self.node(u) {
                            Node::Num(bits) => coef *= f64::from_bits(*bits),
                            _ => flat.push(u),
                        }
                    }
                }
                _ => flat.push(f),
            }
        }
        if coef == 0.0 {
            return self.num(0.0);
        }
        // Merge equal bases: x * x^2 -> x^3, x / x -> 1.
        let mut groups: Vec<(Expr, i64)> = Vec::new();
        let mut pos: HashMap<Expr, usize> = HashMap::new();
        for f in flat {
            let (b, n) = match self.node(f) {
                Node::Powi(b, n) => (*b, i64::from(*n)),
                _ => (f, 1),
            };
            match pos.get(&b) {
                Some(&i) => groups[i].1 += n,
                None => {
                    pos.insert(b, groups.len());
                    groups.push((b, n));
                }
            }
        }
        let mut out = Vec::with_capacity(groups.len() + 1);
        for (b, n) in groups {
            if n == 0 {
                continue;
            }
            let f = match i32::try_from(n) {
                Ok(n) => self.powi(b, n),
                Err(_) => {
                    let p = self.num(n as f64);
                    self.powf(b, p)
                }
            };
            // Bases are never Num, Mul or Powi (flattened above), so `f` is a plain factor.
            out.push(f);
        }
        out.sort();
        if out.is_empty() || coef == 0.0 {
            return self.num(coef);
        }
        if coef == 1.0 {
            return if out.len() == 1 {
                out[0]
            } else {
                self.intern(Node::Mul(out.into()))
            };
        }
        if out.len() == 1 {
            if let Node::Add(ts) = self.node(out[0]) {
                if ts.len() <= DISTRIBUTE_MAX_TERMS {
                    let ts = ts.clone();
                    let c = self.num(coef);
                    let scaled: Vec<Expr> = ts.iter().map(|&t| self.mul_n(vec![c, t])).collect();
                    return self.add_n(scaled);
                }
            }
        }
        let c = self.num(coef);
        out.insert(0, c);
        self.intern(Node::Mul(out.into()))
    }

    /// Constant value of `e`, if it is a number node.
    pub fn as_const(&self, e: Expr) -> Option<f64> {
        match self.node(e) {
            Node::Num(bits) => Some(f64::from_bits(*bits)),
            _ => None,
        }
    }

    /// Whether `e` is the constant 0 (structurally: an expression that merely evaluates to 0 is
    /// not).
    pub fn is_zero(&self, e: Expr) -> bool {
        self.as_const(e) == Some(0.0)
    }

    /// Name of a `Var` node.
    pub fn var_name(&self, e: Expr) -> Option<&str> {
        match self.node(e) {
            Node::Var(n) => Some(n),
            _ => None,
        }
    }

    fn for_each_child(&self, e: Expr, mut f: impl FnMut(Expr)) {
        match self.node(e) {
            Node::Num(_) | Node::Var(_) => {}
            Node::Add(xs) | Node::Mul(xs) => xs.iter().copied().for_each(f),
            Node::Powi(a, _) | Node::Func(_, a) => f(*a),
            Node::Powf(a, b) => {
                f(*a);
                f(*b);
            }
        }
    }

    /// Nodes reachable from `roots` (not descending into nodes for which `stop` holds; those
    /// are not returned either), in ascending index = topological order.
    fn reachable(&self, roots: &[Expr], stop: impl Fn(Expr) -> bool) -> Vec<Expr> {
        let mut seen = HashSet::new();
        let mut stack: Vec<Expr> = roots.to_vec();
        while let Some(e) = stack.pop() {
            if stop(e) || !seen.insert(e) {
                continue;
            }
            self.for_each_child(e, |c| stack.push(c));
        }
        let mut v: Vec<Expr> = seen.into_iter().collect();
        v.sort();
        v
    }

    /// Whether `var` (any node, usually a `Var`) occurs in `e`.
    pub fn depends_on(&self, e: Expr, var: Expr) -> bool {
        if e == var {
            return true;
        }
        // Children have smaller indices, so nothing below `var` can contain it.
        let mut seen = HashSet::new();
        let mut stack = vec![e];
        while let Some(n) = stack.pop() {
            if n == var {
                return true;
            }
            if n < var || !seen.insert(n) {
                continue;
            }
            self.for_each_child(n, |c| stack.push(c));
        }
        false
    }

    /// Names of the variables occurring in `e`, sorted and deduplicated.
    pub fn free_vars(&self, e: Expr) -> Vec<String> {
        let mut names: Vec<String> = self
            .reachable(&[e], |_| false)
            .into_iter()
            .filter_map(|n| self.var_name(n).map(str::to_owned))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Simultaneous substitution: every occurrence of a key node (normally a `Var`; other keys
    /// match by node identity) is replaced by its value. The first entry wins for duplicate keys.
    pub fn subs(&mut self, e: Expr, map: &[(Expr, Expr)]) -> Expr {
        let e = self.check(e);
        let mut memo: HashMap<Expr, Expr> = HashMap::new();
        for &(k, v) in map {
            let v = self.check(v);
            memo.entry(k).or_insert(v);
        }
        let order = self.reachable(&[e], |n| memo.contains_key(&n));
        for n in order {
            let node = self.node(n).clone();
            let m = |x: &Expr| memo.get(x).copied().unwrap_or(*x);
            let r = match node {
                Node::Num(_) | Node::Var(_) => n,
                Node::Add(ts) => {
                    let new: Vec<Expr> = ts.iter().map(m).collect();
                    if *new == *ts {
                        n
                    } else {
                        self.add_n(new)
                    }
                }
                Node::Mul(fs) => {
                    let new: Vec<Expr> = fs.iter().map(m).collect();
                    if *new == *fs {
                        n
                    } else {
                        self.mul_n(new)
                    }
                }
                Node::Powi(a, k) => {
                    let a2 = m(&a);
                    if a2 == a {
                        n
                    } else {
                        self.powi(a2, k)
                    }
                }
                Node::Powf(a, b) => {
                    let (a2, b2) = (m(&a), m(&b));
                    if (a2, b2) == (a, b) {
                        n
                    } else {
                        self.powf(a2, b2)
                    }
                }
                Node::Func(f, a) => {
                    let a2 = m(&a);
                    if a2 == a {
                        n
                    } else {
                        self.func(f, a2)
                    }
                }
            };
            memo.insert(n, r);
        }
        memo.get(&e).copied().unwrap_or(e)
    }

    /// Numeric value of `e`; `env` supplies each variable's value (called once per variable).
    pub fn eval(&self, e: Expr, env: &dyn Fn(&str) -> f64) -> f64 {
        let mut val: HashMap<Expr, f64> = HashMap::new();
        for n in self.reachable(&[e], |_| false) {
            let v = |x: &Expr| val.get(x).copied().unwrap_or(f64::NAN);
            let r = match self.node(n) {
                Node::Num(bits) => f64::from_bits(*bits),
                Node::Var(name) => env(name),
                Node::Add(ts) => ts.iter().map(v).sum(),
                Node::Mul(fs) => fs.iter().map(v).product(),
                Node::Powi(a, k) => v(a).powi(*k),
                Node::Powf(a, b) => v(a).powf(v(b)),
                Node::Func(f, a) => f.apply(v(a)),
            };
            val.insert(n, r);
        }
        val.get(&e).copied().unwrap_or(f64::NAN)
    }
}
