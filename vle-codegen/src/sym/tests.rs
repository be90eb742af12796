use std::collections::HashMap;

use num_dual::{Dual64, DualNum, HyperDual64};
use quote::quote;

use super::*;

/// splitmix64: small, deterministic, good enough to spread test points.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * u
    }
}

/// Reference evaluator over any dual number type, mirroring `Graph::eval` (including the
/// overflow-safe sigmoid/softplus branches) so forward-mode AD gives the true derivative.
fn eval_dual<D: DualNum<Primitive = f64>>(g: &Graph, e: Expr, env: &dyn Fn(&str) -> D) -> D {
    let mut val: HashMap<Expr, D> = HashMap::new();
    for n in g.reachable(&[e], |_| false) {
        let v = |x: &Expr| val[x].clone();
        let r = match g.node(n) {
            Node::Num(bits) => D::from(f64::from_bits(*bits)),
            Node::Var(name) => env(name),
            Node::Add(ts) => ts.iter().map(v).fold(D::from(0.0), |a, b| a + b),
            Node::Mul(fs) => fs.iter().map(v).fold(D::from(1.0), |a, b| a * b),
            Node::Powi(a, k) => v(a).powi(*k),
            Node::Powf(a, b) => v(a).powd(v(b)),
            Node::Func(f, a) => {
                let x = v(a);
                match f {
                    Func::Tanh => x.tanh(),
                    Func::Sigmoid => {
                        if x.re() >= 0.0 {
                            ((-x).exp() + 1.0).recip()
                        } else {
                            let e = x.exp();
                            e.clone() / (e + 1.0)
                        }
                    }
                    Func::Softplus => {
                        if x.re() > 0.0 {
                            x.clone() + (-x).exp().ln_1p()
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
        };
        val.insert(n, r);
    }
    val[&e].clone()
}

/// Symbolic and dual results evaluate the same real-valued formula in a different operation
/// order, so they agree up to accumulated rounding; 1e-12 relative leaves ~4 decimal digits of
/// headroom over f64's 2.2e-16 for the few dozen operations per expression.
fn assert_close(sym: f64, ad: f64, what: &str) {
    let tol = 1e-12 * sym.abs().max(ad.abs());
    assert!(
        (sym - ad).abs() <= tol || sym == ad,
        "{what}: symbolic {sym:e} vs dual {ad:e} (diff {:e})",
        (sym - ad).abs()
    );
}

type Builder = fn(&mut Graph, Expr, Expr, Expr) -> Expr;

/// Test expressions in x, y, z covering every Func, powi, powf, division and nesting.
/// All are defined for x, y, z in [0.2, 1.5] (ln, sqrt and powf need positive arguments).
fn cases() -> Vec<(&'static str, Builder)> {
    vec![
        ("tanh", |g, x, y, z| {
            let a = g.mul(x, y);
            let a = g.add(a, z);
            g.func(Func::Tanh, a)
        }),
        ("sigmoid", |g, x, y, z| {
            let a = g.sub(x, y);
            let a = g.mul(a, z);
            g.func(Func::Sigmoid, a)
        }),
        ("softplus", |g, x, y, _| {
            let a = g.mul(x, y);
            let three = g.num(3.0);
            let a = g.sub(a, three);
            g.func(Func::Softplus, a)
        }),
        ("exp", |g, x, y, z| {
            let a = g.mul(x, z);
            let a = g.sub(a, y);
            g.func(Func::Exp, a)
        }),
        ("ln", |g, x, y, z| {
            let a = g.powi(x, 2);
            let b = g.mul(y, z);
            let a = g.add(a, b);
            g.func(Func::Ln, a)
        }),
        ("sqrt", |g, x, y, z| {
            let a = g.powi(x, 2);
            let b = g.powi(y, 2);
            let s = g.sum(&[a, b, z]);
            g.func(Func::Sqrt, s)
        }),
        ("sin", |g, x, y, _| {
            let a = g.mul(x, y);
            g.func(Func::Sin, a)
        }),
        ("cos", |g, x, y, z| {
            let a = g.div(x, y);
            let a = g.add(a, z);
            g.func(Func::Cos, a)
        }),
        ("powi", |g, x, y, z| {
            let a = g.powi(x, 3);
            let b = g.powi(y, -2);
            let c = g.add(x, z);
            let c = g.powi(c, 5);
            let d = g.powi(z, -1);
            g.sum(&[a, b, c, d])
        }),
        ("powf_both", |g, x, y, _| g.powf(x, y)),
        ("powf_base", |g, x, _, z| {
            let p = g.num(0.7);
            let a = g.add(x, z);
            g.powf(a, p)
        }),
        ("powf_exp", |g, x, y, z| {
            let a = g.mul(x, y);
            g.powf(z, a)
        }),
        ("quotient", |g, x, y, z| {
            let n = g.add(x, y);
            let one = g.num(1.0);
            let d = g.mul(x, z);
            let d = g.add(d, one);
            g.div(n, d)
        }),
        ("nested", |g, x, y, z| {
            let s = g.func(Func::Sin, x);
            let e = g.func(Func::Exp, s);
            let m = g.mul(e, y);
            let sg = g.func(Func::Sigmoid, m);
            let t = g.func(Func::Tanh, sg);
            let sp = g.func(Func::Softplus, z);
            let l = g.func(Func::Ln, sp);
            let q = g.div(t, l);
            let c = g.func(Func::Cos, q);
            let two = g.num(2.0);
            let c = g.add(c, two);
            let r = g.func(Func::Sqrt, c);
            g.powf(r, y)
        }),
        ("energy", |g, x, y, z| {
            // 1/2 (u - w tanh(u + tau du))^2, the shape of a latent-equilibrium energy term.
            let tdu = g.mul(z, y);
            let ub = g.add(x, tdu);
            let phi = g.func(Func::Tanh, ub);
            let wphi = g.mul(y, phi);
            let e = g.sub(x, wphi);
            let sq = g.powi(e, 2);
            let half = g.num(0.5);
            g.mul(half, sq)
        }),
        ("repeated", |g, x, y, z| {
            let a = g.mul(x, y);
            let t = g.func(Func::Tanh, a);
            let u = g.mul(t, t);
            let v = g.div(u, t);
            let w = g.sub(v, z);
            g.mul(w, t)
        }),
    ]
}

fn env3(p: [f64; 3]) -> impl Fn(&str) -> f64 {
    move |n| match n {
        "x" => p[0],
        "y" => p[1],
        "z" => p[2],
        _ => f64::NAN,
    }
}

#[test]
fn derivatives_match_dual_numbers() {
    let mut rng = Rng(0x5eed);
    let mut checks = 0;
    for (name, build) in cases() {
        let mut g = Graph::new();
        let vars = [g.var("x"), g.var("y"), g.var("z")];
        let f = build(&mut g, vars[0], vars[1], vars[2]);
        for _ in 0..20 {
            let p = [
                rng.range(0.2, 1.5),
                rng.range(0.2, 1.5),
                rng.range(0.2, 1.5),
            ];
            let env = env3(p);
            for (i, &v) in vars.iter().enumerate() {
                let d = g.diff(f, v);
                let denv = |n: &str| {
                    let k = ["x", "y", "z"].iter().position(|&s| s == n);
                    match k {
                        Some(k) => Dual64::new(p[k], if k == i { 1.0 } else { 0.0 }),
                        None => Dual64::from(f64::NAN),
                    }
                };
                let ad = eval_dual(&g, f, &denv);
                assert_close(g.eval(f, &env), ad.re, &format!("{name} value"));
                assert_close(g.eval(d, &env), ad.eps, &format!("{name} d/d{i}"));
                checks += 1;
            }
        }
    }
    assert!(checks >= 16 * 60);
}

#[test]
fn second_derivatives_match_hyperdual_numbers() {
    let mut rng = Rng(42);
    for (name, build) in cases() {
        let mut g = Graph::new();
        let vars = [g.var("x"), g.var("y"), g.var("z")];
        let f = build(&mut g, vars[0], vars[1], vars[2]);
        for _ in 0..5 {
            let p = [
                rng.range(0.2, 1.5),
                rng.range(0.2, 1.5),
                rng.range(0.2, 1.5),
            ];
            let env = env3(p);
            for i in 0..3 {
                for j in 0..3 {
                    let di = g.diff(f, vars[i]);
                    let dij = g.diff(di, vars[j]);
                    let henv = |n: &str| {
                        let k = ["x", "y", "z"].iter().position(|&s| s == n).unwrap_or(9);
                        let e1 = if k == i { 1.0 } else { 0.0 };
                        let e2 = if k == j { 1.0 } else { 0.0 };
                        HyperDual64::new(p.get(k).copied().unwrap_or(f64::NAN), e1, e2, 0.0)
                    };
                    let ad = eval_dual(&g, f, &henv);
                    // Second derivatives accumulate more rounding; still far below any bug.
                    let (s, a) = (g.eval(dij, &env), ad.eps1eps2);
                    assert!(
                        (s - a).abs() <= 1e-10 * s.abs().max(a.abs()) || s == a,
                        "{name} d2/d{i}d{j}: {s:e} vs {a:e}"
                    );
                }
            }
        }
    }
}

#[test]
fn signed_domain_and_large_arguments() {
    // sigmoid/softplus must stay finite and exact for large |x|, on both branches.
    let mut g = Graph::new();
    let x = g.var("x");
    let fs = [
        Func::Tanh,
        Func::Sigmoid,
        Func::Softplus,
        Func::Sin,
        Func::Cos,
        Func::Exp,
    ];
    for f in fs {
        let e = g.func(f, x);
        let d = g.diff(e, x);
        for xv in [-800.0f64, -30.0, -1.3, -1e-3, 0.0, 2e-3, 0.9, 25.0, 800.0] {
            if f == Func::Tanh && xv.abs() > 700.0 {
                continue; // num-dual's tanh is sinh/cosh, which overflows there
            }
            let env = |_: &str| xv;
            let ad = eval_dual(&g, e, &|_| Dual64::new(xv, 1.0));
            let (sv, sd) = (g.eval(e, &env), g.eval(d, &env));
            if f != Func::Exp || xv < 700.0 {
                assert!(sv.is_finite() && sd.is_finite(), "{f:?}({xv})");
            }
            // In saturation s(1-s) and 1-tanh^2 cancel: their error is ~1e-16 absolute (not
            // relative), which is what the spec'd derivative forms give up for node reuse.
            let close =
                |a: f64, b: f64| a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs()) + 1e-16;
            assert!(close(sv, ad.re), "{f:?}({xv}): {sv:e} vs {:e}", ad.re);
            assert!(close(sd, ad.eps), "{f:?}'({xv}): {sd:e} vs {:e}", ad.eps);
        }
    }
    assert_eq!(Func::Sigmoid.apply(-800.0), 0.0);
    assert_eq!(Func::Softplus.apply(800.0), 800.0);
    assert_eq!(Func::Softplus.apply(-800.0), 0.0);
}

#[test]
fn eval_agrees_with_std() {
    let mut g = Graph::new();
    let x = g.var("x");
    let y = g.var("y");
    let env = |n: &str| if n == "x" { 0.37 } else { 1.9 };
    for f in Func::ALL {
        let e = g.func(f, x);
        let want = match f {
            Func::Tanh => 0.37f64.tanh(),
            Func::Sigmoid => 1.0 / (1.0 + (-0.37f64).exp()),
            Func::Softplus => (1.0 + 0.37f64.exp()).ln(),
            Func::Exp => 0.37f64.exp(),
            Func::Ln => 0.37f64.ln(),
            Func::Sqrt => 0.37f64.sqrt(),
            Func::Sin => 0.37f64.sin(),
            Func::Cos => 0.37f64.cos(),
        };
        assert!(
            (g.eval(e, &env) - want).abs() <= 1e-15 * want.abs(),
            "{f:?}"
        );
        assert_eq!(Func::from_name(f.name()), Some(f));
    }
    assert_eq!(Func::from_name("tan"), None);
    let p = g.powf(x, y);
    assert_eq!(g.eval(p, &env), 0.37f64.powf(1.9));
    let q = g.powi(y, -3);
    assert_eq!(g.eval(q, &env), 1.9f64.powi(-3));
}

#[test]
fn derivative_dag_grows_linearly() {
    // f_{k+1} = F_k(w f_k + b) cycling through every Func; without memoisation the derivative
    // of a 30-fold composition would have ~2^30 nodes.
    fn build(depth: usize) -> (usize, usize, f64) {
        let mut g = Graph::new();
        let x = g.var("x");
        let w = g.var("w");
        let b = g.var("b");
        let mut f = x;
        for k in 0..depth {
            let a = g.mul(w, f);
            let a = g.add(a, b);
            // Keep ln/sqrt arguments positive.
            let a = match Func::ALL[k % 8] {
                Func::Ln | Func::Sqrt => g.func(Func::Softplus, a),
                _ => a,
            };
            f = g.func(Func::ALL[k % 8], a);
        }
        let before = g.node_count();
        let dx = g.diff(f, x);
        let dw = g.diff(f, w);
        let dwx = g.diff(dw, x);
        let env = |n: &str| match n {
            "x" => 0.3,
            "w" => 0.8,
            _ => 0.1,
        };
        (before, g.node_count(), g.eval(dx, &env) + g.eval(dwx, &env))
    }
    let (b10, n10, _) = build(10);
    let (b20, n20, _) = build(20);
    let (b30, n30, v30) = build(30);
    assert!(v30.is_finite());
    let (d1, d2) = ((n20 - b20) - (n10 - b10), (n30 - b30) - (n20 - b20));
    // Exactly linear except for cycle-phase effects (30 is not a multiple of 8).
    assert!(
        d2 <= d1 + d1 / 4,
        "derivative nodes per 10 levels: {d1} then {d2}"
    );
    assert!(
        n30 - b30 < 60 * 30,
        "{} derivative nodes for depth 30",
        n30 - b30
    );
}

#[test]
fn repeated_scaling_of_sums_stays_linear() {
    // f_{k+1} = 2 f_k + sin(f_k): d f_{k+1} = 2 df_k + cos(f_k) df_k. Distributing the 2 over
    // an ever-growing sum would make this quadratic; the distribution cap keeps it linear.
    fn build(depth: usize) -> usize {
        let mut g = Graph::new();
        let x = g.var("x");
        let two = g.num(2.0);
        let mut f = x;
        for _ in 0..depth {
            let s = g.func(Func::Sin, f);
            let t = g.mul(two, f);
            f = g.add(t, s);
        }
        let before = g.node_count();
        let d = g.diff(f, x);
        assert!(g.eval(d, &|_| 0.1).is_finite());
        g.node_count() - before
    }
    let (a, b, c) = (build(20), build(40), build(60));
    assert!(c - b <= (b - a) + (b - a) / 4, "{a} {b} {c}");
}

#[test]
fn simplification() {
    let mut g = Graph::new();
    let x = g.var("x");
    let y = g.var("y");
    let zero = g.num(0.0);
    let one = g.num(1.0);
    let two = g.num(2.0);
    assert_eq!(g.add(x, zero), x);
    assert_eq!(g.mul(x, one), x);
    assert_eq!(g.mul(one, x), x);
    assert_eq!(g.mul(x, zero), zero);
    assert_eq!(g.div(x, one), x);
    assert_eq!(g.div(zero, x), zero);
    assert_eq!(g.powi(x, 1), x);
    assert_eq!(g.powi(x, 0), one);
    let nx = g.neg(x);
    assert_eq!(g.neg(nx), x);
    assert_eq!(g.sub(x, x), zero);
    let xx = g.add(x, x);
    assert_eq!(xx, g.mul(two, x));
    let x2 = g.mul(x, x);
    assert_eq!(x2, g.powi(x, 2));
    assert_eq!(g.div(x, x), one);
    let xy = g.mul(x, y);
    assert_eq!(g.div(xy, y), x);
    // c1*x + c2*x, also across nested sums
    let a = g.mul(two, xy);
    let three = g.num(3.0);
    let b = g.mul(xy, three);
    let s = g.add(a, b);
    let five = g.num(5.0);
    assert_eq!(s, g.mul(five, xy));
    let s2 = g.add(s, x);
    let m5 = g.num(-5.0);
    let m = g.mul(m5, xy);
    assert_eq!(g.add(s2, m), x);
    // constant folding
    let c = g.add(two, three);
    assert_eq!(g.as_const(c), Some(5.0));
    let t = g.func(Func::Tanh, zero);
    assert_eq!(g.as_const(t), Some(0.0));
    let p = g.powf(two, three);
    assert_eq!(g.as_const(p), Some(8.0));
    assert_eq!(g.powf(x, two), x2);
    assert_eq!(g.powf(one, x), one);
    let x6 = g.powi(x2, 3);
    assert_eq!(x6, g.powi(x, 6));
    // -(x - y) = y - x
    let d = g.sub(x, y);
    assert_eq!(g.neg(d), g.sub(y, x));
    assert_eq!(g.sum(&[]), zero);
    assert_eq!(g.sum(&[x]), x);
    assert!(g.is_zero(zero) && !g.is_zero(x));
    assert_eq!(g.as_const(x), None);
    assert_eq!(g.num(-0.0), zero);
}

#[test]
fn hash_consing() {
    let mut g = Graph::new();
    let u = g.var("u");
    assert_eq!(g.var("u"), u);
    let v = g.var("v");
    assert_ne!(u, v);
    let a = g.mul(u, v);
    assert_eq!(g.mul(v, u), a);
    let s = g.add(u, v);
    assert_eq!(g.add(v, u), s);
    let t = g.func(Func::Tanh, s);
    let n = g.node_count();
    // Rebuilding in another order creates nothing new.
    let s2 = g.add(v, u);
    let t2 = g.func(Func::Tanh, s2);
    let w = g.sum(&[v, u]);
    assert_eq!((t2, w), (t, s));
    assert_eq!(g.node_count(), n);
    // Operand order of n-ary sums/products does not matter.
    let c = g.var("c");
    let l = g.sum(&[u, v, c]);
    let r = g.sum(&[c, u, v]);
    assert_eq!(l, r);
    let l = g.product(&[u, v, c]);
    let r = g.product(&[c, v, u]);
    assert_eq!(l, r);
    assert_eq!(g.var_name(u), Some("u"));
    assert_eq!(g.var_name(a), None);
}

#[test]
fn derivative_rules_reuse_nodes() {
    let mut g = Graph::new();
    let x = g.var("x");
    let t = g.func(Func::Tanh, x);
    let dt = g.diff(t, x);
    assert_eq!(g.display(dt), "1 - tanh(x)^2");
    let sq = g.powi(t, 2);
    let one = g.num(1.0);
    assert_eq!(dt, g.sub(one, sq));
    let e = g.func(Func::Exp, x);
    assert_eq!(g.diff(e, x), e);
    let s = g.func(Func::Sigmoid, x);
    let ds = g.diff(s, x);
    assert_eq!(g.display(ds), "sigmoid(x)*(1 - sigmoid(x))");
    let sp = g.func(Func::Softplus, x);
    assert_eq!(g.diff(sp, x), s);
    let l = g.func(Func::Ln, x);
    let dl = g.diff(l, x);
    assert_eq!(dl, g.powi(x, -1));
    let r = g.func(Func::Sqrt, x);
    let dr = g.diff(r, x);
    assert_eq!(g.display(dr), "0.5/sqrt(x)");
    let c = g.func(Func::Cos, x);
    let dc = g.diff(c, x);
    assert_eq!(g.display(dc), "-sin(x)");
    // memoised: same node, no new nodes
    let n = g.node_count();
    assert_eq!(g.diff(t, x), dt);
    assert_eq!(g.node_count(), n);
    // non-Var `var`: documented zero
    let y = g.var("y");
    let xy = g.mul(x, y);
    let dxy = g.diff(xy, xy);
    assert!(g.is_zero(dxy));
    let dy = g.diff(t, y);
    assert!(g.is_zero(dy));
}

#[test]
fn substitution_and_queries() {
    let mut g = Graph::new();
    let x = g.var("x");
    let y = g.var("y");
    let z = g.var("z");
    let x2 = g.powi(x, 2);
    let t = g.func(Func::Tanh, y);
    let e = g.sum(&[x2, x, t]);
    assert_eq!(g.free_vars(e), vec!["x", "y"]);
    assert!(g.depends_on(e, x) && g.depends_on(e, y) && !g.depends_on(e, z));
    assert!(g.depends_on(x, x) && !g.depends_on(x, y));
    // x -> z + 1
    let one = g.num(1.0);
    let zp1 = g.add(z, one);
    let s = g.subs(e, &[(x, zp1)]);
    assert_eq!(g.free_vars(s), vec!["y", "z"]);
    let env = |n: &str| match n {
        "y" => 0.4,
        "z" => -2.5,
        _ => f64::NAN,
    };
    let want = (-1.5f64).powi(2) - 1.5 + 0.4f64.tanh();
    assert!((g.eval(s, &env) - want).abs() < 1e-14);
    // simultaneous swap
    let d = g.sub(x, y);
    let sw = g.subs(d, &[(x, y), (y, x)]);
    assert_eq!(sw, g.sub(y, x));
    // substitution that cancels
    let sx = g.subs(d, &[(y, x)]);
    assert!(g.is_zero(sx));
    // untouched expression keeps its node
    assert_eq!(g.subs(e, &[(z, one)]), e);
    assert_eq!(g.free_vars(one), Vec::<String>::new());
}

#[test]
fn foreign_handles_do_not_panic() {
    let mut g = Graph::new();
    let x = g.var("x");
    let bad = Expr(1000);
    let e = g.add(x, bad);
    assert!(g.eval(e, &|_| 1.0).is_nan());
    assert!(g.eval(bad, &|_| 1.0).is_nan());
    let _ = g.diff(bad, x);
    let _ = g.display(bad);
    let _ = g.subs(bad, &[(x, bad)]);
    assert!(!g.depends_on(bad, x));
}

/// Residuals of `A x = b` at random values of the symbols.
fn check_solution(
    g: &Graph,
    a: &[Vec<Expr>],
    b: &[Expr],
    x: &[Expr],
    names: &[&str],
    rng: &mut Rng,
) {
    for _ in 0..10 {
        let vals: HashMap<String, f64> = names
            .iter()
            .map(|n| (n.to_string(), rng.range(0.5, 2.0)))
            .collect();
        let env = |n: &str| vals.get(n).copied().unwrap_or(f64::NAN);
        let xv: Vec<f64> = x.iter().map(|&e| g.eval(e, &env)).collect();
        for (row, &bi) in a.iter().zip(b) {
            let lhs: f64 = row
                .iter()
                .zip(&xv)
                .map(|(&aij, xj)| g.eval(aij, &env) * xj)
                .sum();
            let rhs = g.eval(bi, &env);
            assert!(
                (lhs - rhs).abs() <= 1e-10 * rhs.abs().max(1.0),
                "{lhs} vs {rhs}"
            );
        }
    }
}

#[test]
fn solve_linear_systems() {
    let mut g = Graph::new();
    let mut rng = Rng(7);
    // 1x1: tau du + u - input = 0  =>  du = (input - u) / tau
    let tau = g.var("tau_m");
    let u = g.var("u");
    let inp = g.var("input");
    let rhs = g.sub(inp, u);
    let x = solve_linear(&mut g, &[vec![tau]], &[rhs]).expect("1x1");
    assert_eq!(g.display(x[0]), "(input - u)/tau_m");
    check_solution(
        &g,
        &[vec![tau]],
        &[rhs],
        &x,
        &["tau_m", "u", "input"],
        &mut rng,
    );

    // 2x2 with a structural zero on the diagonal (needs a row swap)
    let names = ["a", "b", "c", "d", "p", "q"];
    let [a, b, c, _d, p, q] = names.map(|n| g.var(n));
    let zero = g.num(0.0);
    let m = vec![vec![zero, a], vec![b, c]];
    let x = solve_linear(&mut g, &m, &[p, q]).expect("2x2");
    check_solution(&g, &m, &[p, q], &x, &names, &mut rng);

    // 3x3 dense symbolic
    let names: Vec<String> = (0..12).map(|i| format!("m{i}")).collect();
    let v: Vec<Expr> = names.iter().map(|n| g.var(n)).collect();
    let two = g.num(2.0);
    let diag = g.add(v[0], two);
    let m = vec![
        vec![diag, v[1], v[2]],
        vec![v[3], v[4], v[5]],
        vec![v[6], v[7], v[8]],
    ];
    let rhs = [v[9], v[10], v[11]];
    let x = solve_linear(&mut g, &m, &rhs).expect("3x3");
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    check_solution(&g, &m, &rhs, &x, &refs, &mut rng);

    // structurally singular, and malformed shapes
    let m = vec![vec![a, zero], vec![b, zero]];
    assert!(solve_linear(&mut g, &m, &[p, q]).is_none());
    assert!(solve_linear(&mut g, &[vec![a, b]], &[p]).is_none());
    assert!(solve_linear(&mut g, &[vec![a]], &[p, q]).is_none());
    assert_eq!(solve_linear(&mut g, &[], &[]), Some(vec![]));
}

#[test]
fn display_and_latex() {
    let mut g = Graph::new();
    let u = g.var("u");
    let du = g.var("d_u");
    let tau = g.var("tau_m");
    let inp = g.var("input");
    let tdu = g.mul(tau, du);
    let e = g.sum(&[tdu, u]);
    let e = g.sub(e, inp);
    let name = |n: &str| match n {
        "tau_m" => "\\tau_m".to_owned(),
        "d_u" => "\\dot{u}".to_owned(),
        _ => n.to_owned(),
    };
    insta::assert_snapshot!(g.display(e), @"u + d_u*tau_m - input");
    insta::assert_snapshot!(g.latex(e, &name), @"u + \\dot{u} \\tau_m - input");
    let ub = g.var("ubreve");
    let t = g.func(Func::Tanh, ub);
    insta::assert_snapshot!(g.display(t), @"tanh(ubreve)");
    let x = g.var("x");
    let y = g.var("y");
    let x2 = g.powi(x, 2);
    insta::assert_snapshot!(g.display(x2), @"x^2");
    insta::assert_snapshot!(g.latex(x2, &name), @"x^{2}");
    let one = g.num(1.0);
    let xp1 = g.add(x, one);
    let q = g.div(xp1, y);
    let q = g.mul(q, t);
    insta::assert_snapshot!(g.display(q), @"tanh(ubreve)*(x + 1)/y");
    insta::assert_snapshot!(g.latex(q, &name), @r"\frac{\tanh\left(ubreve\right) \left(x + 1\right)}{y}");
    let two = g.num(2.0);
    let yp2 = g.add(y, two);
    let f = g.div(xp1, yp2);
    insta::assert_snapshot!(g.display(f), @"(x + 1)/(y + 2)");
    insta::assert_snapshot!(g.latex(f, &name), @r"\frac{x + 1}{y + 2}");
    let half = g.num(0.5);
    let p = g.powf(xp1, half);
    let n = g.neg(p);
    insta::assert_snapshot!(g.display(n), @"-(x + 1)^0.5");
    let r = g.func(Func::Sqrt, xp1);
    let s = g.func(Func::Sigmoid, x);
    let y3 = g.powi(y, -3);
    let w = g.sum(&[r, s, y3]);
    insta::assert_snapshot!(g.display(w), @"sqrt(x + 1) + sigmoid(x) + 1/y^3");
    insta::assert_snapshot!(g.latex(w, &name), @r"\sqrt{x + 1} + \sigma\left(x\right) + \frac{1}{y^{3}}");
    let py = g.powf(x, y);
    let big = g.sub(x, py);
    let big = g.powi(big, 3);
    let c = g.num(-2.5);
    let big = g.mul(c, big);
    insta::assert_snapshot!(g.display(big), @"-2.5*(x - x^y)^3");
    insta::assert_snapshot!(g.latex(big, &name), @r"-2.5 \left(x - x^{y}\right)^{3}");
}

fn pretty(stmts: &[proc_macro2::TokenStream], ret: &[proc_macro2::TokenStream]) -> String {
    let item = quote! {
        fn k<T: Scalar>(s: &[T], p: &[T], w: T, out: &mut [T]) {
            #(#stmts)*
            let _ = (#(#ret),*);
        }
    };
    let file = syn::parse2::<syn::File>(item).expect("emitted code parses");
    prettyplease::unparse(&file)
}

#[test]
fn emitter_shares_subexpressions() {
    let mut g = Graph::new();
    let u = g.var("u");
    let du = g.var("d_u");
    let tau = g.var("tau_m");
    let w = g.var("w");
    let inp = g.var("input");
    let tdu = g.mul(tau, du);
    let ub = g.add(u, tdu);
    let phi = g.func(Func::Tanh, ub);
    let wphi = g.mul(w, phi);
    let err = g.sub(inp, wphi);
    let half = g.num(0.5);
    let e2 = g.powi(err, 2);
    let energy = g.mul(half, e2);
    let dphi = g.diff(phi, u);
    let de_du = g.diff(energy, u);
    let de_dw = g.diff(energy, w);

    let mut em = Emitter::new(&g);
    em.bind("u", quote!(s[0]));
    em.bind("d_u", quote!(s[1]));
    em.bind("tau_m", quote!(p[0]));
    em.bind("w", quote!(w));
    em.bind("input", quote!(p[1]));
    em.hint(dphi, "phi_prime");
    em.hint(phi, "phi");
    let (stmts, outs) = em
        .emit(&[("energy", energy), ("de_du", de_du), ("de_dw", de_dw)])
        .expect("all bound");
    let code = pretty(&stmts, &outs);
    insta::assert_snapshot!(code, @r"
    fn k<T: Scalar>(s: &[T], p: &[T], w: T, out: &mut [T]) {
        let phi = (s[0] + s[1] * p[0]).tanh();
        let t0 = p[1] - w * phi;
        let energy = T::from_f64(0.5) * t0 * t0;
        let phi_prime = T::from_f64(1.0) - phi * phi;
        let de_du = -w * t0 * phi_prime;
        let de_dw = -phi * t0;
        let _ = (energy, de_du, de_dw);
    }
    ");
    assert_eq!(code.matches(".tanh()").count(), 1, "tanh emitted once");

    // A later call reuses values bound earlier instead of recomputing them.
    let d2 = g_mul_const(&mut g, de_du, 3.0);
    let mut em2 = Emitter::new(&g);
    for (n, v) in [
        ("u", quote!(s[0])),
        ("d_u", quote!(s[1])),
        ("tau_m", quote!(p[0])),
    ] {
        em2.bind(n, v);
    }
    em2.bind("w", quote!(w));
    em2.bind("input", quote!(p[1]));
    let (s1, o1) = em2.emit(&[("de_du", de_du)]).expect("bound");
    let (s2, o2) = em2
        .emit(&[("scaled", d2), ("again", de_du), ("u_out", u)])
        .expect("bound");
    let all: Vec<_> = s1.iter().chain(&s2).cloned().collect();
    let code = pretty(&all, &[o1, o2].concat());
    insta::assert_snapshot!(code, @r"
    fn k<T: Scalar>(s: &[T], p: &[T], w: T, out: &mut [T]) {
        let t0 = (s[0] + s[1] * p[0]).tanh();
        let t1 = p[1] - w * t0;
        let t2 = T::from_f64(1.0) - t0 * t0;
        let de_du = -w * t1 * t2;
        let scaled = T::from_f64(3.0) * de_du;
        let _ = (de_du, scaled, de_du, s[0]);
    }
    ");
    assert_eq!(code.matches(".tanh()").count(), 1);
}

fn g_mul_const(g: &mut Graph, e: Expr, c: f64) -> Expr {
    let c = g.num(c);
    g.mul(c, e)
}

#[test]
fn emitter_errors_and_names() {
    let mut g = Graph::new();
    let x = g.var("x");
    let y = g.var("y");
    let s = g.add(x, y);
    let t = g.func(Func::Exp, s);
    let c = g.num(2.5);
    let mut em = Emitter::new(&g);
    em.bind("x", quote!(x));
    assert_eq!(em.emit(&[("out", t)]).err(), Some("y".to_owned()));
    em.bind("y", quote!(a + b));
    // Output names that collide with bound identifiers, keywords or each other are renamed.
    let (stmts, outs) = em
        .emit(&[("x", t), ("fn", s), ("x", t), ("9lives", x), ("c", c)])
        .expect("bound");
    let code = pretty(&stmts, &outs);
    insta::assert_snapshot!(code, @r"
    fn k<T: Scalar>(s: &[T], p: &[T], w: T, out: &mut [T]) {
        let fn_ = x + (a + b);
        let x_1 = fn_.exp();
        let _ = (x_1, fn_, x_1, x, T::from_f64(2.5));
    }
    ");
}
