//! The syntax tree of a `vle_model!` invocation, as written by the user (no meaning checked).

use proc_macro2::Span;
use syn::Ident;

/// A whole `network` declaration.
pub struct Model {
    pub attrs: Vec<syn::Attribute>,
    pub vis: syn::Visibility,
    pub name: Ident,
    pub neurons: Vec<NeuronDecl>,
    pub functions: Vec<FnDecl>,
    pub inputs: Vec<InputDecl>,
    pub layers: Vec<LayerDecl>,
    pub energies: Vec<EnergyDecl>,
    /// `learn W, b, tau_m;` (all `learn` statements, concatenated).
    pub learn: Vec<Ident>,
}

/// `neuron Name { ... }`.
pub struct NeuronDecl {
    pub name: Ident,
    /// `param tau_m, tau_r;` — per-neuron parameters; names starting with `tau` are time constants.
    pub params: Vec<Ident>,
    /// `activation phi;` — function slots bound per layer.
    pub activations: Vec<Ident>,
    /// `state u;` — ODE state variables.
    pub states: Vec<Ident>,
    /// `mismatch e = ...;` — one constraint per state, affine in the `d(...)` of the states.
    pub mismatches: Vec<Def>,
    /// `prospective ubreve = ...;`
    pub prospectives: Vec<Def>,
    /// `rate r = ...;`
    pub rates: Vec<Def>,
    /// `let name = ...;` — named intermediates.
    pub lets: Vec<Def>,
}

/// `name = expr`.
pub struct Def {
    pub name: Ident,
    pub expr: MathExpr,
}

/// `fn name(a, b) = expr;` — a user formula, expanded inline.
pub struct FnDecl {
    pub name: Ident,
    pub args: Vec<Ident>,
    pub body: MathExpr,
}

/// `input x: 1;`
pub struct InputDecl {
    pub name: Ident,
    pub size: usize,
    pub size_span: Span,
}

/// `layer h1: 2 = Gle { phi: tanh, tau_m: 1.0 } <- x + bias;`
pub struct LayerDecl {
    pub name: Ident,
    pub size: usize,
    pub size_span: Span,
    pub neuron: Ident,
    pub bindings: Vec<Binding>,
    /// Presynaptic sources; the layer's own name is a recurrent projection.
    pub sources: Vec<Ident>,
    /// Span of the `bias` term, if present.
    pub bias: Option<Span>,
}

/// `key: value` inside a layer's braces.
pub struct Binding {
    pub key: Ident,
    pub value: BindingValue,
}

pub enum BindingValue {
    /// An activation bound to a function name (`phi: tanh`).
    Func(Ident),
    /// Numbers: one value for all neurons, or a list `[a, b; 17, ...]` (`v; n` repeats v n times).
    Values(Vec<ValueGroup>),
}

/// `value` or `value; count` in a parameter list.
pub struct ValueGroup {
    pub value: f64,
    pub count: usize,
    pub span: Span,
}

/// `energy = ...;`
pub struct EnergyDecl {
    pub eq_span: Span,
    pub expr: MathExpr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

/// A mathematical expression in the DSL (math precedence: `^` binds tighter than unary minus,
/// which binds tighter than `*` and `/`, then `+` and `-`).
#[derive(Clone)]
pub enum MathExpr {
    Num {
        value: f64,
        span: Span,
    },
    Var(Ident),
    /// `layer.quantity`, e.g. `out.r`.
    Field {
        base: Ident,
        field: Ident,
    },
    Call {
        func: Ident,
        args: Vec<MathExpr>,
    },
    Neg {
        span: Span,
        expr: Box<MathExpr>,
    },
    Bin {
        op: BinOp,
        span: Span,
        lhs: Box<MathExpr>,
        rhs: Box<MathExpr>,
    },
}

impl MathExpr {
    /// A span to report errors about this expression on (its first token).
    pub fn span(&self) -> Span {
        match self {
            MathExpr::Num { span, .. } => *span,
            MathExpr::Var(id) => id.span(),
            MathExpr::Field { base, .. } => base.span(),
            MathExpr::Call { func, .. } => func.span(),
            MathExpr::Neg { span, .. } => *span,
            MathExpr::Bin { lhs, .. } => lhs.span(),
        }
    }
}
