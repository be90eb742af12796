//! Parameter initialisation, validation, clamping and look-up.

#![allow(clippy::needless_range_loop)]

mod common;

use common::{params, Gle1, Gle1FixedTau, TAU_M, TAU_R};
use vle_runtime::params::{
    clamp_time_constants, fan_in, find_param, find_param_by_symbol, init_biases_fan_in,
    learnable_mask, param_entry_name, try_init_params, zero_non_learnable,
};
use vle_runtime::{
    init_params, validate_params, Derivation, Error, LayerInfo, Network, ParamInfo, ParamKind,
    Scalar,
};

/// Metadata only: layer h (3 neurons) fed by x (2) and recurrently by h (3).
struct TwoProjections;

static INFO: [ParamInfo; 5] = [
    ParamInfo {
        name: "h.W<-x",
        layer: "h",
        symbol: "W",
        kind: ParamKind::Weight {
            pre: "x",
            recurrent: false,
        },
        offset: 0,
        rows: 3,
        cols: 2,
        learnable: true,
        time_constant: false,
        defaults: &[],
    },
    ParamInfo {
        name: "h.W<-h",
        layer: "h",
        symbol: "W",
        kind: ParamKind::Weight {
            pre: "h",
            recurrent: true,
        },
        offset: 6,
        rows: 3,
        cols: 3,
        learnable: true,
        time_constant: false,
        defaults: &[],
    },
    ParamInfo {
        name: "h.b",
        layer: "h",
        symbol: "b",
        kind: ParamKind::Bias,
        offset: 15,
        rows: 3,
        cols: 1,
        learnable: true,
        time_constant: false,
        defaults: &[],
    },
    ParamInfo {
        name: "h.tau_m",
        layer: "h",
        symbol: "tau_m",
        kind: ParamKind::Neuron,
        offset: 18,
        rows: 3,
        cols: 1,
        learnable: true,
        time_constant: true,
        defaults: &[0.6, 1.2, 1.2],
    },
    ParamInfo {
        name: "h.tau_r",
        layer: "h",
        symbol: "tau_r",
        kind: ParamKind::Neuron,
        offset: 21,
        rows: 3,
        cols: 1,
        learnable: false,
        time_constant: true,
        defaults: &[0.2],
    },
];

static DERIVATION: Derivation = Derivation {
    text: "",
    latex: "",
};

impl Network for TwoProjections {
    const NAME: &'static str = "TwoProjections";
    const INPUT: usize = 2;
    const OUTPUT: usize = 3;
    const PARAMS: usize = 24;
    const STATE: usize = 6;
    const CONT: usize = 3;
    const LOCAL: usize = 6;
    const NEURONS: usize = 3;
    fn param_info() -> &'static [ParamInfo] {
        &INFO
    }
    fn layer_info() -> &'static [LayerInfo] {
        &[]
    }
    fn derivation() -> &'static Derivation {
        &DERIVATION
    }
    fn output<T: Scalar>(_: &[T], _: &[T], _: &mut [T]) {
        unimplemented!()
    }
    fn loss<T: Scalar>(_: &[T], _: &[T], _: &[T]) -> T {
        unimplemented!()
    }
    fn loss_adjoint<T: Scalar>(_: &[T], _: &[T], _: &[T], _: T, _: &mut [T], _: &mut [T]) -> T {
        unimplemented!()
    }
    fn euler_step<T: Scalar>(_: &[T], _: &mut [T], _: &[T], _: T) {
        unimplemented!()
    }
    fn euler_step_adjoint<T: Scalar>(
        _: &[T],
        _: &[T],
        _: &[T],
        _: T,
        _: &[T],
        _: &mut [T],
        _: &mut [T],
    ) {
        unimplemented!()
    }
    fn rhs<T: Scalar>(_: &[T], _: &[T], _: &[T], _: &mut [T]) {
        unimplemented!()
    }
    fn refresh_prospective<T: Scalar>(_: &[T], _: &mut [T], _: &[T]) {
        unimplemented!()
    }
    fn adjoint_rhs<T: Scalar>(
        _: &[T],
        _: &[T],
        _: &[T],
        _: &[T],
        _: T,
        _: &[T],
        _: &mut [T],
        _: &mut [T],
        _: &mut [T],
    ) {
        unimplemented!()
    }
    fn online_step<T: Scalar>(
        _: &[T],
        _: &mut [T],
        _: &mut [T],
        _: &[T],
        _: &[T],
        _: T,
        _: T,
        _: T,
        _: &mut [T],
    ) {
        unimplemented!()
    }
}

#[test]
fn init_uses_defaults_fan_in_and_zero_biases() {
    assert_eq!(fan_in::<TwoProjections>("h"), 5);
    let p = init_params::<TwoProjections, f64>(7);
    assert_eq!(p.len(), 24);
    let a = 1.0 / 5f64.sqrt();
    assert!(p[..15].iter().all(|w| w.abs() < a));
    // Not all equal: really random.
    assert!(p[..15].iter().any(|&w| w != p[0]));
    assert_eq!(&p[15..18], &[0.0; 3]);
    assert_eq!(&p[18..21], &[0.6, 1.2, 1.2]);
    assert_eq!(&p[21..24], &[0.2; 3]);
    // Deterministic per seed, different across seeds; f32 gets the same numbers rounded.
    assert_eq!(p, init_params::<TwoProjections, f64>(7));
    assert_ne!(p, init_params::<TwoProjections, f64>(8));
    let p32 = init_params::<TwoProjections, f32>(7);
    assert!(p.iter().zip(&p32).all(|(a, &b)| *a as f32 == b));
    assert!(try_init_params::<TwoProjections, f64>(7).is_ok());

    let g = init_params::<Gle1, f64>(1);
    assert!(g[0].abs() < 1.0);
    assert_eq!(&g[1..], &[0.0, 1.0, 0.3]);
}

#[test]
fn biases_fan_in_leave_everything_else() {
    let p0 = init_params::<TwoProjections, f64>(7);
    let mut p = p0.clone();
    init_biases_fan_in::<TwoProjections, f64>(&mut p, 7).unwrap();
    // Biases of h (fan_in 5) drawn in ±1/√5, not all equal; weights and τ untouched.
    let a = 1.0 / 5f64.sqrt();
    assert!(p[15..18].iter().all(|b| b.abs() < a && *b != 0.0));
    assert!(p[15..18].iter().any(|&b| b != p[15]));
    assert_eq!(&p[..15], &p0[..15]);
    assert_eq!(&p[18..], &p0[18..]);
    let mut q = p0.clone();
    init_biases_fan_in::<TwoProjections, f64>(&mut q, 7).unwrap();
    assert_eq!(p, q);
    init_biases_fan_in::<TwoProjections, f64>(&mut q, 8).unwrap();
    assert_ne!(p[15..18], q[15..18]);
    // A vector of the wrong length is an error, not a panic.
    assert!(init_biases_fan_in::<TwoProjections, f64>(&mut q[..20], 7).is_err());
}

#[test]
fn lookup_and_masks() {
    assert_eq!(find_param::<TwoProjections>("h.W<-h").unwrap().offset, 6);
    assert_eq!(
        find_param_by_symbol::<TwoProjections>("h", "tau_r")
            .unwrap()
            .offset,
        21
    );
    assert!(find_param::<TwoProjections>("h.nope").is_none());
    assert_eq!(param_entry_name::<TwoProjections>(19), "h.tau_m[1]");
    let m = learnable_mask::<TwoProjections>();
    assert!(m[..21].iter().all(|&b| b) && m[21..].iter().all(|&b| !b));
    assert_eq!(
        learnable_mask::<Gle1FixedTau>(),
        vec![true, true, false, false]
    );
}

#[test]
fn validation_names_the_bad_entry() {
    let dt = 0.1;
    assert!(validate_params::<Gle1, f64>(&params(), dt).is_ok());

    let e = validate_params::<Gle1, f64>(&params()[..3], dt).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Length {
                expected: 4,
                got: 3,
                ..
            }
        ),
        "{e}"
    );

    let mut p = params();
    p[TAU_R] = 0.05;
    let e = validate_params::<Gle1, f64>(&p, dt).unwrap_err();
    assert_eq!(
        e,
        Error::TimeConstantBelowDt {
            param: "out.tau_r".into(),
            entry: 0,
            value: 0.05,
            dt
        }
    );
    assert!(e.to_string().contains("out.tau_r"));

    p[TAU_M] = -1.0;
    let e = validate_params::<Gle1, f64>(&p, dt).unwrap_err();
    assert!(matches!(e, Error::NonPositiveTimeConstant { ref param, .. } if param == "out.tau_m"));

    let mut p = params();
    p[0] = f64::NAN;
    let e = validate_params::<Gle1, f64>(&p, dt).unwrap_err();
    match e {
        Error::NonFinite { quantity, at, .. } => {
            assert_eq!((quantity, at.name.as_str()), ("parameter", "out.W<-x[0]"));
        }
        e => panic!("{e}"),
    }

    let mut p = init_params::<TwoProjections, f64>(1);
    p[20] = 0.01;
    let e = validate_params::<TwoProjections, f64>(&p, dt).unwrap_err();
    assert!(
        matches!(e, Error::TimeConstantBelowDt { entry: 2, .. }),
        "{e}"
    );

    let e = validate_params::<Gle1, f64>(&params(), 0.0).unwrap_err();
    assert!(matches!(e, Error::InvalidHyperParameter { .. }), "{e}");
}

#[test]
fn clamping_keeps_learned_time_constants_in_range() {
    let mut p = params();
    p[TAU_M] = 50.0;
    p[TAU_R] = 0.001;
    assert_eq!(clamp_time_constants::<Gle1, f64>(&mut p, 0.01, 10.0), Ok(2));
    assert_eq!(&p[2..], &[10.0, 0.01]);
    // Fixed time constants are not touched.
    let mut p = params();
    p[TAU_R] = 0.001;
    assert_eq!(
        clamp_time_constants::<Gle1FixedTau, f64>(&mut p, 0.01, 10.0),
        Ok(0)
    );
    assert_eq!(p[TAU_R], 0.001);
    // A short vector, a bad step or a bound below it: refused, nothing changed.
    let before = p.clone();
    let e = clamp_time_constants::<Gle1, f64>(&mut p[..3], 0.01, 10.0).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Length {
                expected: 4,
                got: 3,
                ..
            }
        ),
        "{e}"
    );
    for (dt, max) in [
        (0.0, 10.0),
        (-0.1, 10.0),
        (f64::NAN, 10.0),
        (0.1, 0.05),
        (0.1, f64::NAN),
    ] {
        let e = clamp_time_constants::<Gle1, f64>(&mut p, dt, max).unwrap_err();
        assert!(
            matches!(e, Error::InvalidHyperParameter { .. }),
            "{dt} {max}: {e}"
        );
    }
    assert_eq!(p, before);
}

#[test]
fn zeroing_non_learnable_entries_checks_the_length() {
    let mut g = vec![1.0; 4];
    zero_non_learnable::<Gle1FixedTau, f64>(&mut g).unwrap();
    assert_eq!(g, [1.0, 1.0, 0.0, 0.0]);
    let e = zero_non_learnable::<Gle1, f64>(&mut g[..2]).unwrap_err();
    assert!(e.to_string().contains("the gradient has length 2"), "{e}");
}
