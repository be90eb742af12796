//! Typed views of a network's flat vectors: parameters validated at construction, zero
//! initial states, gradients, all addressed by the names the declaration gave them.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use crate::error::{check_len, Error, Result};
use crate::params::{find_param, init_params, validate_params};
use crate::{Network, Scalar};

/// The parameter vector of network `N`, checked against a time step: right length, finite,
/// every time constant positive and at least `dt`.
#[derive(Clone, Debug)]
pub struct Params<N: Network, T: Scalar = f64> {
    values: Vec<T>,
    dt: f64,
    _net: PhantomData<N>,
}

impl<N: Network, T: Scalar> Params<N, T> {
    /// The declaration's initial values (weights drawn with `seed`), validated for `dt`.
    pub fn init(seed: u64, dt: f64) -> Result<Self> {
        Self::new(init_params::<N, T>(seed), dt)
    }

    /// Wraps a vector after validating it for `dt`.
    pub fn new(values: Vec<T>, dt: f64) -> Result<Self> {
        validate_params::<N, T>(&values, dt)?;
        Ok(Params {
            values,
            dt,
            _net: PhantomData,
        })
    }

    /// The step the parameters were validated for.
    pub fn dt(&self) -> f64 {
        self.dt
    }

    /// One tensor by its full name (`"h1.W<-x"`, `"h1.b"`, `"h1.tau_m"`).
    pub fn tensor(&self, name: &str) -> Result<&[T]> {
        let info = lookup::<N>(name)?;
        Ok(&self.values[info.range()])
    }

    /// Replaces one tensor's values, re-validating the whole vector (nothing changes on error).
    pub fn set_tensor(&mut self, name: &str, values: &[T]) -> Result<()> {
        let info = lookup::<N>(name)?;
        check_len(
            &format!("the values for `{name}`"),
            info.len(),
            values.len(),
        )?;
        let mut next = self.values.clone();
        next[info.range()].copy_from_slice(values);
        validate_params::<N, T>(&next, self.dt)?;
        self.values = next;
        Ok(())
    }

    /// The flat vector.
    pub fn into_vec(self) -> Vec<T> {
        self.values
    }
}

fn lookup<N: Network>(name: &str) -> Result<&'static crate::ParamInfo> {
    find_param::<N>(name).ok_or_else(|| Error::Unsupported {
        network: N::NAME,
        what: format!(
            "no parameter tensor `{name}`; the tensors are: {}",
            N::param_info()
                .iter()
                .map(|i| i.name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

impl<N: Network, T: Scalar + PartialEq> PartialEq for Params<N, T> {
    fn eq(&self, other: &Self) -> bool {
        self.values == other.values && self.dt == other.dt
    }
}

impl<N: Network, T: Scalar> Deref for Params<N, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.values
    }
}

/// The per-sample state of network `N` (discrete state and the local rule's error neurons),
/// zero-initialised as in `vle::_theory` §6.
#[derive(Clone, Debug)]
pub struct State<N: Network, T: Scalar = f64> {
    /// The discrete state (ODE states, then the carried prospective values).
    pub discrete: Vec<T>,
    /// The local rule's error-neuron states and local errors.
    pub local: Vec<T>,
    _net: PhantomData<N>,
}

impl<N: Network, T: Scalar> Default for State<N, T> {
    fn default() -> Self {
        Self::zeros()
    }
}

impl<N: Network, T: Scalar> State<N, T> {
    /// The resting state: everything zero.
    pub fn zeros() -> Self {
        State {
            discrete: vec![T::zero(); N::STATE],
            local: vec![T::zero(); N::LOCAL],
            _net: PhantomData,
        }
    }

    /// The values of one state variable of a layer (e.g. `("h1", "u")`), one per neuron.
    pub fn variable(&self, layer: &str, name: &str) -> Result<&[T]> {
        let l = find_layer::<N>(layer)?;
        let offset = if name == "prospective" {
            l.prospective_offset
        } else {
            l.states
                .iter()
                .find(|(s, _)| *s == name)
                .map(|(_, o)| *o)
                .ok_or_else(|| Error::Unsupported {
                    network: N::NAME,
                    what: format!("layer `{layer}` has no state `{name}`"),
                })?
        };
        Ok(&self.discrete[offset..offset + l.size])
    }

    /// The local errors ε of one layer (the error at each neuron's synaptic input).
    pub fn local_errors(&self, layer: &str) -> Result<&[T]> {
        let l = find_layer::<N>(layer)?;
        Ok(&self.local[l.local_error_offset..l.local_error_offset + l.size])
    }
}

fn find_layer<N: Network>(name: &str) -> Result<&'static crate::LayerInfo> {
    N::layer_info()
        .iter()
        .find(|l| l.name == name)
        .ok_or_else(|| Error::Unsupported {
            network: N::NAME,
            what: format!(
                "no layer `{name}`; the layers are: {}",
                N::layer_info()
                    .iter()
                    .map(|l| l.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// A gradient of network `N`'s loss, one entry per parameter.
#[derive(Clone, Debug)]
pub struct Gradient<N: Network, T: Scalar = f64> {
    values: Vec<T>,
    _net: PhantomData<N>,
}

impl<N: Network, T: Scalar> Default for Gradient<N, T> {
    fn default() -> Self {
        Self::zeros()
    }
}

impl<N: Network, T: Scalar> Gradient<N, T> {
    /// All `N::PARAMS` entries zero (the start of an accumulation).
    pub fn zeros() -> Self {
        Gradient {
            values: vec![T::zero(); N::PARAMS],
            _net: PhantomData,
        }
    }
    /// One tensor by its full name.
    pub fn tensor(&self, name: &str) -> Result<&[T]> {
        let info = lookup::<N>(name)?;
        Ok(&self.values[info.range()])
    }
}

impl<N: Network, T: Scalar> Deref for Gradient<N, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.values
    }
}

impl<N: Network, T: Scalar> DerefMut for Gradient<N, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.values
    }
}
