//! The contract between `vle_model!` and the runtime.
//!
//! The macro emits one type per declared network and implements [`Network`] for it. The
//! runtime (simulation, training, verification) only ever talks to a network through this
//! trait: parameters are one flat slice, per-sample state is one flat slice, and kernels are
//! per-sample functions generic over the [`Scalar`] type. Layout inside those slices belongs to
//! the generated code and is described by [`ParamInfo`] and [`LayerInfo`].
//!
//! Time discretisation (the reference scheme of `vle::_theory` §6): per step of length `dt`, every
//! layer reads the *previous* step's presynaptic quantities (one `dt` of delay per layer in each
//! direction). The discrete state of generated networks holds first the declared ODE states of
//! every layer, then the prospective quantity `p` of every layer (from which the rate
//! `r = R(p)` is recomputed); each quantity is a block of `size` entries, neuron `i` at its
//! offset `+ i`. The first [`Network::CONT`] entries (the ODE states alone) are the continuous
//! system's state.

use crate::Scalar;

/// What kind of parameter an entry of the flat parameter vector is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// Synaptic weights of a projection `pre -> layer`, stored row-major, `rows = post size`,
    /// `cols = pre size`.
    Weight {
        /// Name of the presynaptic layer or input.
        pre: &'static str,
        /// Whether this is a recurrent projection (pre == post).
        recurrent: bool,
    },
    /// Bias of a layer's synaptic input.
    Bias,
    /// A per-neuron parameter of the neuron model (`tau_m`, `tau_r`, ...).
    Neuron,
}

/// One parameter tensor inside the flat parameter vector.
#[derive(Clone, Copy, Debug)]
pub struct ParamInfo {
    /// Full name, e.g. `"h1.W<-x"`, `"h1.b"`, `"h1.tau_m"`.
    pub name: &'static str,
    /// Layer the tensor belongs to.
    pub layer: &'static str,
    /// The symbol in the model: `"W"`, `"b"` or the neuron parameter's name.
    pub symbol: &'static str,
    /// Weight, bias or neuron parameter.
    pub kind: ParamKind,
    /// Offset of the first entry in the flat parameter vector.
    pub offset: usize,
    /// Rows: the size of the layer (one row per postsynaptic neuron).
    pub rows: usize,
    /// Columns: the size of the presynaptic layer or input for a weight, 1 otherwise.
    /// Entry `(i, j)` is at `offset + i * cols + j`.
    pub cols: usize,
    /// Whether `learn` lists it.
    pub learnable: bool,
    /// Whether it is a time constant (`tau*`): must stay positive and at least `dt`.
    pub time_constant: bool,
    /// Initial values per entry for neuron parameters (from the declaration); empty for
    /// weights (initialised randomly) and biases (zero).
    pub defaults: &'static [f64],
}

impl ParamInfo {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }
    /// Whether the tensor has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Index range in the flat parameter vector.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// One layer: where its quantities live in the state slices.
#[derive(Clone, Copy, Debug)]
pub struct LayerInfo {
    /// The layer's declared name (e.g. `"h1"`).
    pub name: &'static str,
    /// Number of neurons.
    pub size: usize,
    /// Name of the neuron model.
    pub neuron: &'static str,
    /// ODE state variables: (name, offset of neuron 0 in the discrete state); neuron `i` is at
    /// `offset + i`. All offsets are below [`Network::CONT`].
    pub states: &'static [(&'static str, usize)],
    /// Offset of the prospective quantity in the discrete state.
    pub prospective_offset: usize,
    /// Offset of the local input error `e` (the error neuron's output) in the local state
    /// (length [`Network::LOCAL`]).
    pub local_error_offset: usize,
    /// Offset of the layer's input-level error in the continuous adjoint's error vector
    /// (`errors` of [`Network::adjoint_rhs`], length [`Network::NEURONS`]).
    pub adjoint_error_offset: usize,
}

/// The derivation the macro performed, for people to read.
#[derive(Clone, Copy, Debug)]
pub struct Derivation {
    /// Plain text (UTF-8 mathematical notation).
    pub text: &'static str,
    /// The same equations in LaTeX.
    pub latex: &'static str,
}

/// A network declared with `vle_model!`. All kernels act on one sample.
pub trait Network: 'static {
    /// The declared name.
    const NAME: &'static str;
    /// Width of the input `x`.
    const INPUT: usize;
    /// Width of the output layer (and of the target `y`).
    const OUTPUT: usize;
    /// Length of the flat parameter vector.
    const PARAMS: usize;
    /// Length of the per-sample discrete state.
    const STATE: usize;
    /// Length of the continuous state (a prefix of the discrete state).
    const CONT: usize;
    /// Length of the per-sample state of the local rule: the error neurons' states and ε of
    /// every layer (ε at [`LayerInfo::local_error_offset`]), then the errors in transit, which
    /// each layer's error neurons sent down in the last step (zero at rest).
    const LOCAL: usize;
    /// Number of neurons (length of the error vectors).
    const NEURONS: usize;
    /// Whether the continuous-time kernels ([`Network::rhs`], [`Network::refresh_prospective`],
    /// [`Network::adjoint_rhs`]) are defined. They are not for networks with recurrent
    /// projections: a recurrent projection of a prospective rate is an algebraic loop in
    /// continuous time, and only the discrete system (one step of delay) is defined. Those
    /// kernels then write NaN, and the runtime refuses to call them.
    const CONTINUOUS: bool = true;
    /// Scratch entries per sample that the `*_batch` kernels need (0 for the default,
    /// per-sample implementations).
    const BATCH_SCRATCH: usize = 0;
    /// Entries per sample and step of the weight-gradient factors that
    /// [`Network::euler_step_adjoint_batch_deferred`] hands back (0: the network adds its
    /// weight gradients itself, as the default implementations do).
    const WEIGHT_TERMS: usize = 0;
    /// Entries per sample of the synaptic inputs that [`Network::euler_step_batch_recorded`]
    /// records (0: it records nothing, as the default implementation).
    const SYNAPTIC_INPUTS: usize = 0;

    /// The parameter tensors, in the order of their offsets; together they cover the
    /// [`Network::PARAMS`] entries of the flat parameter vector.
    fn param_info() -> &'static [ParamInfo];
    /// The layers, in declaration order (the layer the loss reads is the output layer, of
    /// size [`Network::OUTPUT`]); their sizes add up to [`Network::NEURONS`].
    fn layer_info() -> &'static [LayerInfo];
    /// The equations the macro derived (forward, exact adjoint, local rule), for people to
    /// read.
    fn derivation() -> &'static Derivation;

    /// Output rates `r_L = R(p_L)` of the discrete state `state` (length [`Network::STATE`]):
    /// overwrites `r[..OUTPUT]`.
    fn output<T: Scalar>(p: &[T], state: &[T], r: &mut [T]);

    /// The instantaneous loss ℓ(r_L, y) of the discrete state `state` against the target `y`
    /// (length [`Network::OUTPUT`]); not scaled by β or `dt`.
    fn loss<T: Scalar>(p: &[T], state: &[T], y: &[T]) -> T;

    /// Reverse mode of [`Network::loss`]: adds `scale * ∂ℓ/∂state` into `adj` (length
    /// [`Network::STATE`]; for generated networks only the output layer's prospective entries
    /// are touched) and `scale * ∂ℓ/∂p` into `grad` (length [`Network::PARAMS`]; the neuron
    /// parameters the rate function reads, if any). Returns the unscaled ℓ. BPTT calls it
    /// with `scale = β·dt`.
    fn loss_adjoint<T: Scalar>(
        p: &[T],
        state: &[T],
        y: &[T],
        scale: T,
        adj: &mut [T],
        grad: &mut [T],
    ) -> T;

    /// One layer-synchronous explicit-Euler step of the forward dynamics, in place:
    /// `state` (length [`Network::STATE`]) goes from `state_n` to `state_{n+1}` with the input
    /// `x = x_n` (length [`Network::INPUT`]). Every layer reads the presynaptic rates `R(p)`
    /// carried in `state_n` (one step of delay per layer) and writes its new ODE states and
    /// the prospective value `p_{n+1} = prosp(s_n, ṡ_n)`.
    fn euler_step<T: Scalar>(p: &[T], state: &mut [T], x: &[T], dt: T);

    /// Reverse mode of [`Network::euler_step`] taken at `state` (the state *before* the step)
    /// and input `x`: given `adj_next = ∂L/∂state_{n+1}`, overwrites every entry of
    /// `adj_prev` with `∂L/∂state_n` through this step (both length [`Network::STATE`]; the
    /// loss at `state_n` is added afterwards by the caller, with [`Network::loss_adjoint`]) and
    /// adds the step's contribution to `∂L/∂p` into `grad` (length [`Network::PARAMS`]).
    /// Exact to rounding: the transpose of the Jacobian of [`Network::euler_step`].
    fn euler_step_adjoint<T: Scalar>(
        p: &[T],
        state: &[T],
        x: &[T],
        dt: T,
        adj_next: &[T],
        adj_prev: &mut [T],
        grad: &mut [T],
    );

    /// Right-hand side of the continuous system: overwrites `dc` with `dc/dt` at continuous
    /// state `c` and input `x = x(t)` (`c`, `dc` of length [`Network::CONT`]), layers chained
    /// without delay (each reads the rates of the instantaneous prospective potentials below
    /// it). Writes NaN when [`Network::CONTINUOUS`] is false.
    fn rhs<T: Scalar>(p: &[T], c: &[T], x: &[T], dc: &mut [T]);

    /// Recomputes the prospective quantities of the discrete state `state` (length
    /// [`Network::STATE`]) from its continuous part `state[..CONT]` and the input `x`
    /// (instantaneous chain, as in [`Network::rhs`]): overwrites the prospective entries,
    /// leaves the ODE states alone. The continuous-time loss reads ℓ from a state refreshed
    /// this way. Fills all of `state` with NaN when [`Network::CONTINUOUS`] is false.
    fn refresh_prospective<T: Scalar>(p: &[T], state: &mut [T], x: &[T]);

    /// Right-hand side of the exact continuous adjoint (`vle::_theory` §4) in momentum form, at
    /// continuous state `c` (length [`Network::CONT`]), input `x`, target `y` and loss weight
    /// `beta` (𝓛 = βℓ + Σ λ·(Mṡ − f)): `costate` holds P = ∂𝓛/∂ṡ per ODE state (length
    /// `CONT`). Overwrites `dcostate` with dP/dt = ∂𝓛/∂s (length `CONT`), `errors` with the
    /// error at each neuron's synaptic input, −∂𝓛/∂I (length [`Network::NEURONS`], layer
    /// blocks at [`LayerInfo::adjoint_error_offset`]; for GLE the mismatch error e), and
    /// `grad_density` with ∂𝓛/∂θ (length [`Network::PARAMS`]). The terminal condition is
    /// P(T) = 0, the sweep runs backwards in time, and dL/dθ = ∫ grad_density dt. Writes NaN
    /// when [`Network::CONTINUOUS`] is false.
    #[allow(clippy::too_many_arguments)]
    fn adjoint_rhs<T: Scalar>(
        p: &[T],
        c: &[T],
        x: &[T],
        y: &[T],
        beta: T,
        costate: &[T],
        dcostate: &mut [T],
        errors: &mut [T],
        grad_density: &mut [T],
    );

    /// One step of online learning with the local rule (`vle::_theory` §5), in place, with input
    /// `x = x_n` and target `y = y_n` (the target of the current `state_n`): the rate
    /// sensitivities from `beta · ∂ℓ/∂r` and from the errors the layers above sent in the
    /// previous step (one step of delay), the error neurons' Euler step (their states and the
    /// error e in `local`, length [`Network::LOCAL`], updated in place), the local gradient
    /// estimate of the step, `dt * ĝ` (an estimate of dL/dθ for L = β∫ℓ dt), *added* into
    /// `grad` (length [`Network::PARAMS`]; descend with `p -= lr * grad`), the forward Euler
    /// step of `state` as in [`Network::euler_step`] with `gamma · e` added to each neuron's
    /// synaptic input (nudging), and last the new errors sent down, `−Wᵀe` with the weights
    /// `p` of this step, into `local` for the next step. So a training loop that updates `p`
    /// after the step does not change the errors already in transit (as in the published GLE
    /// code, where `e_bottom` is computed in the step that computes the error).
    #[allow(clippy::too_many_arguments)]
    fn online_step<T: Scalar>(
        p: &[T],
        state: &mut [T],
        local: &mut [T],
        x: &[T],
        y: &[T],
        beta: T,
        gamma: T,
        dt: T,
        grad: &mut [T],
    );

    /// [`Network::euler_step`] for `batch` samples at once: `states` is `batch × STATE`
    /// (updated in place), `xs` `batch × INPUT` (sample-major); `scratch` holds at least
    /// `batch * BATCH_SCRATCH` entries (its contents on entry do not matter). Generated
    /// networks compute the synaptic sums as matrix products over the batch; the result equals
    /// the per-sample steps up to rounding.
    fn euler_step_batch<T: Scalar>(
        p: &[T],
        states: &mut [T],
        xs: &[T],
        dt: T,
        batch: usize,
        scratch: &mut [T],
    ) {
        let _ = scratch;
        for b in 0..batch {
            Self::euler_step(
                p,
                &mut states[b * Self::STATE..(b + 1) * Self::STATE],
                &xs[b * Self::INPUT..(b + 1) * Self::INPUT],
                dt,
            );
        }
    }

    /// [`Network::euler_step_batch`] that also writes every layer's synaptic input of the step
    /// into `inputs` (`batch × SYNAPTIC_INPUTS` entries; nothing when it is empty), so that the
    /// reverse step can read them instead of recomputing the products
    /// ([`Network::euler_step_adjoint_batch_deferred`]).
    #[allow(clippy::too_many_arguments)]
    fn euler_step_batch_recorded<T: Scalar>(
        p: &[T],
        states: &mut [T],
        xs: &[T],
        dt: T,
        batch: usize,
        scratch: &mut [T],
        inputs: &mut [T],
    ) {
        let _ = inputs;
        Self::euler_step_batch(p, states, xs, dt, batch, scratch);
    }

    /// [`Network::euler_step_adjoint`] for `batch` samples at once (layouts as in
    /// [`Network::euler_step_batch`]; `states` holds the states *before* the step, `adj_next`
    /// and `adj_prev` are `batch × STATE`): every entry of `adj_prev` is overwritten, the
    /// gradient of every sample is added into `grad` (summed over the batch).
    #[allow(clippy::too_many_arguments)]
    fn euler_step_adjoint_batch<T: Scalar>(
        p: &[T],
        states: &[T],
        xs: &[T],
        dt: T,
        adj_next: &[T],
        adj_prev: &mut [T],
        grad: &mut [T],
        batch: usize,
        scratch: &mut [T],
    ) {
        let _ = scratch;
        let s = Self::STATE;
        for b in 0..batch {
            Self::euler_step_adjoint(
                p,
                &states[b * s..(b + 1) * s],
                &xs[b * Self::INPUT..(b + 1) * Self::INPUT],
                dt,
                &adj_next[b * s..(b + 1) * s],
                &mut adj_prev[b * s..(b + 1) * s],
                grad,
            );
        }
    }

    /// [`Network::euler_step_adjoint_batch`] with the weight gradients left out: the factors
    /// of this step's weight gradients (per projection, ∂L/∂W = Σ_b a_b r_bᵀ) go to slot
    /// `slot` of `terms` (`slots × batch × WEIGHT_TERMS` entries, `slot < slots`; the layout
    /// inside belongs to the generated code) instead of a product into `grad`; everything else
    /// is added into `grad` as before.
    /// [`Network::weight_grad_from_terms`] then adds the products of many steps at once: one
    /// matrix product over time instead of one rank-`batch` update per step. With `slots = 0`
    /// (and for networks with `WEIGHT_TERMS = 0`) nothing is deferred. A non-empty `inputs`
    /// holds the step's synaptic inputs as [`Network::euler_step_batch_recorded`] wrote them
    /// (then they are read instead of recomputed).
    #[allow(clippy::too_many_arguments)]
    fn euler_step_adjoint_batch_deferred<T: Scalar>(
        p: &[T],
        states: &[T],
        xs: &[T],
        dt: T,
        (adj_next, adj_prev): (&[T], &mut [T]),
        grad: &mut [T],
        batch: usize,
        scratch: &mut [T],
        inputs: &[T],
        (terms, slot, slots): (&mut [T], usize, usize),
    ) {
        let _ = (inputs, terms, slot, slots);
        Self::euler_step_adjoint_batch(p, states, xs, dt, adj_next, adj_prev, grad, batch, scratch);
    }

    /// Adds into `grad` the weight gradients whose factors
    /// [`Network::euler_step_adjoint_batch_deferred`] wrote into the first `filled` slots of
    /// `terms` (laid out for `slots` slots of `batch` samples).
    fn weight_grad_from_terms<T: Scalar>(
        terms: &[T],
        filled: usize,
        slots: usize,
        batch: usize,
        grad: &mut [T],
    ) {
        let _ = (terms, filled, slots, batch, grad);
    }

    /// [`Network::online_step`] for `batch` samples at once: `states` is `batch × STATE`,
    /// `locals` `batch × LOCAL`, `xs` `batch × INPUT`, `ys` `batch × OUTPUT` (sample-major);
    /// the gradient of every sample is added into `grad`; `scratch` holds at least
    /// `batch * BATCH_SCRATCH` entries (its contents on entry do not matter). Generated
    /// networks turn the synaptic sums, the error feedback and the weight updates into matrix
    /// products over the batch; the result equals the per-sample steps up to rounding.
    #[allow(clippy::too_many_arguments)]
    fn online_step_batch<T: Scalar>(
        p: &[T],
        states: &mut [T],
        locals: &mut [T],
        xs: &[T],
        ys: &[T],
        beta: T,
        gamma: T,
        dt: T,
        grad: &mut [T],
        batch: usize,
        scratch: &mut [T],
    ) {
        let _ = scratch;
        for b in 0..batch {
            Self::online_step(
                p,
                &mut states[b * Self::STATE..(b + 1) * Self::STATE],
                &mut locals[b * Self::LOCAL..(b + 1) * Self::LOCAL],
                &xs[b * Self::INPUT..(b + 1) * Self::INPUT],
                &ys[b * Self::OUTPUT..(b + 1) * Self::OUTPUT],
                beta,
                gamma,
                dt,
                grad,
            );
        }
    }
}
