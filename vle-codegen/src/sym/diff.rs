//! Symbolic differentiation, memoised per `(expr, var)` so derivative DAGs stay linear in size.

use super::{Expr, Func, Graph, Node};

impl Graph {
    /// Partial derivative of `e` with respect to the variable node `var`.
    ///
    /// If `var` is not a `Var` node the result is the constant 0 (nothing is "a function of" a
    /// compound expression here); this never panics.
    pub fn diff(&mut self, e: Expr, var: Expr) -> Expr {
        let e = self.check(e);
        if self.var_name(var).is_none() {
            return self.num(0.0);
        }
        if let Some(&d) = self.diff_memo.get(&(e, var)) {
            return d;
        }
        // Process the not-yet-differentiated part of the DAG bottom-up (index order).
        let order = {
            let memo = &self.diff_memo;
            self.reachable(&[e], |n| memo.contains_key(&(n, var)))
        };
        for n in order {
            let d = self.diff_node(n, var);
            self.diff_memo.insert((n, var), d);
        }
        match self.diff_memo.get(&(e, var)) {
            Some(&d) => d,
            None => self.num(0.0),
        }
    }

    /// Derivative of a child, which `diff` has already computed (children precede parents).
    fn d_of(&mut self, child: Expr, var: Expr) -> Expr {
        match self.diff_memo.get(&(child, var)) {
            Some(&d) => d,
            None => self.num(0.0),
        }
    }

    fn diff_node(&mut self, n: Expr, var: Expr) -> Expr {
        match self.node(n).clone() {
            Node::Num(_) => self.num(0.0),
            Node::Var(_) => self.num(if n == var { 1.0 } else { 0.0 }),
            Node::Add(ts) => {
                let ds: Vec<Expr> = ts.iter().map(|&t| self.d_of(t, var)).collect();
                self.sum(&ds)
            }
            Node::Mul(fs) => {
                // Product rule; factors with zero derivative contribute nothing.
                let mut terms = Vec::new();
                for i in 0..fs.len() {
                    let di = self.d_of(fs[i], var);
                    if self.is_zero(di) {
                        continue;
                    }
                    let mut parts = Vec::with_capacity(fs.len());
                    parts.push(di);
                    parts.extend(
                        fs.iter()
                            .enumerate()
                            .filter(|&(j, _)| j != i)
                            .map(|(_, &f)| f),
                    );
                    terms.push(self.product(&parts));
                }
                self.sum(&terms)
            }
            Node::Powi(a, k) => {
                let da = self.d_of(a, var);
                if self.is_zero(da) {
                    return da;
                }
                let pow = match k.checked_sub(1) {
                    Some(k1) => self.powi(a, k1),
                    None => {
                        let p = self.num(f64::from(k) - 1.0);
                        self.powf(a, p)
                    }
                };
                let c = self.num(f64::from(k));
                self.product(&[c, pow, da])
            }
            Node::Powf(a, b) => {
                // d(a^b) = b a^(b-1) da + a^b ln(a) db; each term only when needed, so a
                // constant exponent never introduces ln(a) (undefined for a <= 0).
                let da = self.d_of(a, var);
                let db = self.d_of(b, var);
                let mut terms = Vec::new();
                if !self.is_zero(da) {
                    let one = self.num(1.0);
                    let b1 = self.sub(b, one);
                    let pow = self.powf(a, b1);
                    terms.push(self.product(&[b, pow, da]));
                }
                if !self.is_zero(db) {
                    let ln = self.func(Func::Ln, a);
                    terms.push(self.product(&[n, ln, db]));
                }
                self.sum(&terms)
            }
            Node::Func(f, a) => {
                let da = self.d_of(a, var);
                if self.is_zero(da) {
                    return da;
                }
                let outer = match f {
                    // Reuse the function node itself where the derivative is expressed by it.
                    Func::Tanh => {
                        let one = self.num(1.0);
                        let sq = self.powi(n, 2);
                        self.sub(one, sq)
                    }
                    Func::Sigmoid => {
                        let one = self.num(1.0);
                        let c = self.sub(one, n);
                        self.mul(n, c)
                    }
                    Func::Softplus => self.func(Func::Sigmoid, a),
                    Func::Exp => n,
                    Func::Ln => self.powi(a, -1),
                    Func::Sqrt => {
                        let half = self.num(0.5);
                        let inv = self.powi(n, -1);
                        self.mul(half, inv)
                    }
                    Func::Sin => self.func(Func::Cos, a),
                    Func::Cos => {
                        let s = self.func(Func::Sin, a);
                        self.neg(s)
                    }
                };
                self.mul(outer, da)
            }
        }
    }
}
