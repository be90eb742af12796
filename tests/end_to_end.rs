mod models;
use models::LagNet;
use vle::Network;

#[test]
fn lagnet_expands_and_steps() {
    let p: Vec<f64> = vle::params::init_params::<LagNet, f64>(1);
    let mut s = vec![0.0; LagNet::STATE];
    for n in 0..100 {
        let x = [(n as f64 * 0.01).sin()];
        LagNet::euler_step(&p, &mut s, &x, 0.01);
    }
    assert!(s.iter().all(|v| v.is_finite()));
    println!("{}", LagNet::DERIVATION_TEXT);
}
