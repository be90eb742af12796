//! Symbolic Gaussian elimination for the small linear systems that arise when solving
//! implicit equations of motion for the time derivatives.

use super::{Expr, Graph};

/// Solves `A x = b` symbolically (A square, rows of `Expr`).
///
/// Pivots are chosen structurally: in each column a non-zero constant is preferred (it keeps
/// expressions simple and cannot vanish), otherwise the first entry that is not the constant 0.
/// Returns `None` when the system is structurally singular (some column has only constant-0
/// candidates) or when the shapes do not match. A system that is singular only for particular
/// values of its symbols yields expressions that divide by zero at those values.
pub fn solve_linear(g: &mut Graph, a: &[Vec<Expr>], b: &[Expr]) -> Option<Vec<Expr>> {
    let n = b.len();
    if a.len() != n || a.iter().any(|row| row.len() != n) {
        return None;
    }
    // Augmented matrix [A | b].
    let mut m: Vec<Vec<Expr>> = a
        .iter()
        .zip(b)
        .map(|(row, &bi)| {
            let mut r = row.clone();
            r.push(bi);
            r
        })
        .collect();
    for k in 0..n {
        let candidates = || (k..n).filter(|&i| !g.is_zero(m[i][k]));
        let p = candidates()
            .find(|&i| g.as_const(m[i][k]).is_some())
            .or_else(|| candidates().next())?;
        m.swap(k, p);
        let (top, below) = m.split_at_mut(k + 1);
        let prow = &top[k];
        for row in below {
            if g.is_zero(row[k]) {
                continue;
            }
            let f = g.div(row[k], prow[k]);
            // The eliminated entry is exactly zero by construction; don't compute it.
            row[k] = g.num(0.0);
            for (rj, &pj) in row.iter_mut().zip(prow).skip(k + 1) {
                if g.is_zero(pj) {
                    continue;
                }
                let t = g.mul(f, pj);
                *rj = g.sub(*rj, t);
            }
        }
    }
    let mut x = vec![g.num(0.0); n];
    for k in (0..n).rev() {
        let mut terms = vec![m[k][n]];
        for j in k + 1..n {
            let t = g.mul(m[k][j], x[j]);
            terms.push(g.neg(t));
        }
        let rhs = g.sum(&terms);
        x[k] = g.div(rhs, m[k][k]);
    }
    Some(x)
}
