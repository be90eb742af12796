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

#[test]
fn recurrent_networks_refuse_continuous_time_work_with_a_clear_error() {
    const { assert!(!MixedNet::CONTINUOUS && LagNet::CONTINUOUS) };
    let p: Vec<f64> = vle::params::init_params::<MixedNet, f64>(1);
    let signal = vle::FnSignal::new(
        1,
        3,
        |_t: f64, x: &mut [f64]| x[0] = 1.0,
        |_t: f64, y: &mut [f64]| y.fill(0.0),
    );
    let err = vle::continuous_adjoint::<MixedNet, f64, _>(&p, &signal, None, 0.0, 0.01, 10, 1.0)
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("MixedNet") && msg.contains("recurrent"),
        "{msg}"
    );
    let mut sim = vle::Simulator::<MixedNet, f64>::new(1).unwrap();
    assert!(sim
        .step(&p, vle::Scheme::Rk4, &[&signal], 0.0, 0.01)
        .is_err());
    assert!(sim
        .step(&p, vle::Scheme::Euler, &[&signal], 0.0, 0.01)
        .is_ok());
}

#[test]
fn typed_views_validate_and_address_tensors_by_name() {
    use vle::{Error, Params, State};
    let p = Params::<LagNet>::init(3, 0.01).unwrap();
    assert_eq!(p.tensor("h1.tau_r").unwrap(), &[1.0, 0.1]);
    // dt larger than the smallest time constant (0.1) is refused, naming the entry.
    match Params::<LagNet>::init(3, 0.2) {
        Err(Error::TimeConstantBelowDt { param, entry, .. }) => {
            assert_eq!((param.as_str(), entry), ("h1.tau_r", 1))
        }
        other => panic!("expected TimeConstantBelowDt, got {other:?}"),
    }
    let mut q = p.clone();
    assert!(q.set_tensor("h1.tau_m", &[1.0, -1.0]).is_err());
    assert_eq!(q, p, "a rejected update changes nothing");
    assert!(q
        .tensor("h9.W")
        .unwrap_err()
        .to_string()
        .contains("h1.W<-x"));
    let s = State::<LagNet>::zeros();
    assert_eq!(s.variable("h2", "u").unwrap(), &[0.0, 0.0]);
    assert_eq!(s.local_errors("out").unwrap().len(), 1);
}
