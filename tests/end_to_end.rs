//! Every test model expands, compiles and simulates to finite values in f32 and f64.
mod models;
use models::*;
use vle::Network;

fn simulate<N: Network, T: vle::Scalar>() -> Vec<T> {
    let p: Vec<T> = vle::params::init_params::<N, T>(1);
    let mut s = vec![T::zero(); N::STATE];
    let mut x = vec![T::zero(); N::INPUT];
    let dt = T::from_f64(0.01);
    for n in 0..500 {
        for (k, xk) in x.iter_mut().enumerate() {
            *xk = T::from_f64((0.01 * n as f64 * (k + 1) as f64).sin());
        }
        N::euler_step(&p, &mut s, &x, dt);
    }
    s
}

#[test]
fn every_model_simulates_to_finite_values() {
    fn both<N: Network>() {
        assert!(
            simulate::<N, f64>().iter().all(|v| v.is_finite()),
            "{}",
            N::NAME
        );
        assert!(
            simulate::<N, f32>().iter().all(|v| v.is_finite()),
            "{}",
            N::NAME
        );
    }
    both::<LagNet>();
    both::<AdaptNet>();
    both::<MixedNet>();
    both::<LeNet>();
    both::<Linear>();
    both::<Chain>();
}

#[test]
fn the_derivation_is_available_as_text_and_latex() {
    let d = <AdaptNet as Network>::derivation();
    assert_eq!(d.text, AdaptNet::DERIVATION_TEXT);
    assert!(d.text.contains("d(a)/dt"), "{}", d.text);
    assert!(d.latex.contains("\\dot{P}_{u}"), "{}", d.latex);
}
