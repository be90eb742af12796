//! The syntax tree of a `vle_model!` invocation, as written by the user (no meaning checked).

use proc_macro2::Span;
use syn::Ident;

/// A whole `network` declaration.
pub struct Model {
    /// Outer attributes before `network` (doc comments, `#[...]`), copied onto the generated type.
    pub attrs: Vec<syn::Attribute>,
    /// Visibility of the generated type (`pub`, `pub(crate)` or inherited).
    pub vis: syn::Visibility,
    /// The network's name: the name of the generated type.
    pub name: Ident,
    /// `neuron` declarations, in source order.
    pub neurons: Vec<NeuronDecl>,
    /// `fn` formulas, in source order.
    pub functions: Vec<FnDecl>,
    /// `input` declarations (validation accepts exactly one).
    pub inputs: Vec<InputDecl>,
    /// `layer` declarations, in source order (a layer reads only earlier layers or itself).
    pub layers: Vec<LayerDecl>,
    /// `energy` declarations (validation accepts exactly one).
    pub energies: Vec<EnergyDecl>,
    /// `learn W, b, tau_m;` (all `learn` statements, concatenated).
    pub learn: Vec<Ident>,
}

/// `neuron Name { ... }`.
pub struct NeuronDecl {
    /// The neuron model's name, referenced by layers (`layer h: 2 = Name ...`).
    pub name: Ident,
    /// Position of this item among the network's items (which of two clashing names came
    /// second).
    pub item: usize,
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
    /// Every name the neuron declares, in source order, with what declares it.
    pub declared: Vec<(Role, Ident)>,
}

/// What declares a name inside a neuron.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `param`.
    Param,
    /// `activation`.
    Activation,
    /// `state`.
    State,
    /// `mismatch`.
    Mismatch,
    /// `prospective`.
    Prospective,
    /// `rate`.
    Rate,
    /// `let`.
    Let,
}

impl Role {
    /// What it declares, for messages: "a parameter", "an activation", ...
    pub fn describe(self) -> &'static str {
        match self {
            Role::Param => "a parameter",
            Role::Activation => "an activation",
            Role::State => "a state",
            Role::Mismatch => "a mismatch",
            Role::Prospective => "the prospective quantity",
            Role::Rate => "the rate",
            Role::Let => "a `let` definition",
        }
    }
}

/// `name = expr`.
pub struct Def {
    /// The defined name.
    pub name: Ident,
    /// Its defining expression.
    pub expr: MathExpr,
}

/// `fn name(a, b) = expr;` — a user formula, expanded inline.
pub struct FnDecl {
    /// The formula's name (must not be a built-in).
    pub name: Ident,
    /// Position of this item among the network's items.
    pub item: usize,
    /// Parameter names, the only names its body may use.
    pub args: Vec<Ident>,
    /// The formula, inlined at every call with the arguments substituted.
    pub body: MathExpr,
}

/// `input x: 1;`
pub struct InputDecl {
    /// The input's name, used as a layer source.
    pub name: Ident,
    /// Position of this item among the network's items.
    pub item: usize,
    /// Number of input channels (the width of `x`).
    pub size: usize,
    /// Span of the size literal, for errors about it.
    pub size_span: Span,
}

/// `layer h1: 2 = Gle { phi: tanh, tau_m: 1.0 } <- x + bias;`
pub struct LayerDecl {
    /// The layer's name.
    pub name: Ident,
    /// Position of this item among the network's items.
    pub item: usize,
    /// Number of neurons.
    pub size: usize,
    /// Span of the size literal, for errors about it.
    pub size_span: Span,
    /// The neuron model every neuron of the layer runs.
    pub neuron: Ident,
    /// Parameter values and activation functions, `{ phi: tanh, tau_m: 1.0 }` (empty without
    /// braces).
    pub bindings: Vec<Binding>,
    /// Presynaptic sources; the layer's own name is a recurrent projection.
    pub sources: Vec<Ident>,
    /// Span of the `bias` term, if present.
    pub bias: Option<Span>,
}

/// `key: value` inside a layer's braces.
pub struct Binding {
    /// A `param` or `activation` name of the layer's neuron model.
    pub key: Ident,
    /// What it is bound to.
    pub value: BindingValue,
}

/// The right-hand side of a [`Binding`].
pub enum BindingValue {
    /// An activation bound to a function name (`phi: tanh`).
    Func(Ident),
    /// Numbers: one value for all neurons, or a list `[a, b; 17, ...]` (`v; n` repeats v n times).
    Values(Vec<ValueGroup>),
}

/// `value` or `value; count` in a parameter list.
pub struct ValueGroup {
    /// The number (a leading `-` included).
    pub value: f64,
    /// How many neurons get it: `count` in `value; count`, 1 for a plain list entry, and 0 for a
    /// bare number outside brackets (broadcast to the whole layer).
    pub count: usize,
    /// Span of the number's digits (not of a leading `-`), for errors about the value.
    pub span: Span,
}

/// `energy = ...;`
pub struct EnergyDecl {
    /// Span of the `=`, for errors about the energy as a whole (a missing term, a duplicate).
    pub eq_span: Span,
    /// The right-hand side, `0.5 * sum_sq(...) + beta * loss`.
    pub expr: MathExpr,
}

/// A binary operator of [`MathExpr::Bin`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b`.
    Div,
    /// `a ^ b` (power; right-associative).
    Pow,
}

/// A mathematical expression in the DSL (math precedence: `^` binds tighter than unary minus,
/// which binds tighter than `*` and `/`, then `+` and `-`).
#[derive(Clone)]
pub enum MathExpr {
    /// A numeric literal (integer or float).
    Num {
        /// Its value.
        value: f64,
        /// Span of the literal.
        span: Span,
    },
    /// A plain name: a state, parameter, definition, `input`, a `fn` argument, `beta`, `target`.
    Var(Ident),
    /// `layer.quantity`, e.g. `out.r`.
    Field {
        /// The layer name (`out`).
        base: Ident,
        /// The quantity (`r`; the loss accepts only the layer's rate).
        field: Ident,
    },
    /// A call `func(args)`: a built-in, a `fn`, an activation slot, `d(state)`, or in the
    /// energy `sum_sq`, `mse`, `cross_entropy`, `sum`.
    Call {
        /// The called name.
        func: Ident,
        /// The arguments, in order.
        args: Vec<MathExpr>,
    },
    /// Unary minus `-expr`.
    Neg {
        /// Span of the `-`.
        span: Span,
        /// The negated expression.
        expr: Box<MathExpr>,
    },
    /// A binary operation `lhs op rhs`.
    Bin {
        /// The operator.
        op: BinOp,
        /// Span of the operator token.
        span: Span,
        /// Left operand.
        lhs: Box<MathExpr>,
        /// Right operand.
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

/// The expression as the DSL writes it, with the parentheses its precedence needs (for error
/// messages that quote a part of the user's expression).
impl std::fmt::Display for MathExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_expr(self, 0, f)
    }
}

/// Binding power of `e`'s outermost operation, as in the parser: + - (1), * / (3), unary - (5),
/// ^ (8), atoms (10).
fn precedence(e: &MathExpr) -> u8 {
    match e {
        MathExpr::Num { value, .. } if *value < 0.0 => 5,
        MathExpr::Num { .. }
        | MathExpr::Var(_)
        | MathExpr::Field { .. }
        | MathExpr::Call { .. } => 10,
        MathExpr::Neg { .. } => 5,
        MathExpr::Bin { op, .. } => match op {
            BinOp::Add | BinOp::Sub => 1,
            BinOp::Mul | BinOp::Div => 3,
            BinOp::Pow => 8,
        },
    }
}

fn write_expr(e: &MathExpr, min_prec: u8, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    let parens = precedence(e) < min_prec;
    if parens {
        write!(f, "(")?;
    }
    match e {
        MathExpr::Num { value, .. } => write!(f, "{value}")?,
        MathExpr::Var(id) => write!(f, "{id}")?,
        MathExpr::Field { base, field } => write!(f, "{base}.{field}")?,
        MathExpr::Call { func, args } => {
            write!(f, "{func}(")?;
            for (k, a) in args.iter().enumerate() {
                if k > 0 {
                    write!(f, ", ")?;
                }
                write_expr(a, 0, f)?;
            }
            write!(f, ")")?;
        }
        MathExpr::Neg { expr, .. } => {
            write!(f, "-")?;
            write_expr(expr, 5, f)?;
        }
        MathExpr::Bin { op, lhs, rhs, .. } => {
            // Left-associative + - * /; `^` is right-associative and its exponent may be a
            // unary minus (`a^-b`).
            let (sym, l, r) = match op {
                BinOp::Add => (" + ", 1, 2),
                BinOp::Sub => (" - ", 1, 2),
                BinOp::Mul => (" * ", 3, 4),
                BinOp::Div => (" / ", 3, 4),
                BinOp::Pow => ("^", 9, 5),
            };
            write_expr(lhs, l, f)?;
            write!(f, "{sym}")?;
            write_expr(rhs, r, f)?;
        }
    }
    if parens {
        write!(f, ")")?;
    }
    Ok(())
}
