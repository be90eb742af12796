//! Tokens to [`crate::ast`]: syntax only. Meaning is checked in [`crate::validate`].

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::{braced, bracketed, parenthesized, Ident, Token};

use crate::ast::*;

/// Parses the whole macro input.
pub fn parse_model(tokens: proc_macro2::TokenStream) -> syn::Result<Model> {
    syn::parse2::<Model>(tokens)
}

fn keyword(input: ParseStream, kw: &str) -> syn::Result<Ident> {
    let id: Ident = input.call(Ident::parse_any_ident)?;
    if id == kw {
        Ok(id)
    } else {
        Err(syn::Error::new(
            id.span(),
            format!("expected `{kw}`, found `{id}`"),
        ))
    }
}

trait ParseAnyIdent {
    fn parse_any_ident(input: ParseStream) -> syn::Result<Ident>;
}

impl ParseAnyIdent for Ident {
    // Keywords such as `fn` and `in` are ordinary words of the DSL.
    fn parse_any_ident(input: ParseStream) -> syn::Result<Ident> {
        input.step(|cursor| match cursor.ident() {
            Some((id, rest)) => Ok((id, rest)),
            None => Err(cursor.error("expected an identifier")),
        })
    }
}

fn ident_list(input: ParseStream) -> syn::Result<Vec<Ident>> {
    let mut out = vec![input.parse::<Ident>()?];
    while input.peek(Token![,]) {
        input.parse::<Token![,]>()?;
        if input.peek(Token![;]) {
            break;
        }
        out.push(input.parse::<Ident>()?);
    }
    Ok(out)
}

/// What an integer literal counts, for its error messages.
#[derive(Clone, Copy)]
enum Count {
    /// `input x: N;`
    InputSize,
    /// `layer h: N = ...`
    LayerSize,
    /// `value; N` in a parameter list.
    Repeat,
}

impl Count {
    fn example(self) -> &'static str {
        match self {
            Count::InputSize => "`input x: 3;`",
            Count::LayerSize => "`layer h: 3 = ...`",
            Count::Repeat => "`[0.5; 3]`",
        }
    }
}

/// A size or repeat count: a non-negative integer literal (zero sizes are refused later, with
/// the item's name; a zero repeat count here).
fn count_lit(input: ParseStream, what: Count) -> syn::Result<(usize, Span)> {
    let noun = match what {
        Count::Repeat => "repeat count",
        _ => "size",
    };
    if input.peek(syn::LitFloat) {
        let lit: syn::LitFloat = input.parse()?;
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "a {noun} is a whole number, got `{lit}`: write an integer, e.g. {}",
                what.example()
            ),
        ));
    }
    // syn reads `-3` as one negative integer literal.
    let lit: syn::LitInt = input.parse().map_err(|e| {
        syn::Error::new(
            e.span(),
            format!(
                "expected a {noun}: a positive integer literal, e.g. {}",
                what.example()
            ),
        )
    })?;
    if lit.base10_digits().starts_with('-') {
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "a {noun} is a positive integer, got `{lit}`: write e.g. {}",
                what.example()
            ),
        ));
    }
    let v: usize = lit.base10_parse().map_err(|_| {
        syn::Error::new(
            lit.span(),
            format!(
                "`{lit}` is too large for a {noun}: write e.g. {}",
                what.example()
            ),
        )
    })?;
    if v == 0 && matches!(what, Count::Repeat) {
        return Err(syn::Error::new(
            lit.span(),
            "a repeat count is at least 1: `value; 0` would list nothing; remove the entry",
        ));
    }
    Ok((v, lit.span()))
}

impl Parse for Model {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(syn::Attribute::parse_outer)?;
        let vis: syn::Visibility = input.parse()?;
        keyword(input, "network").map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected `network Name { ... }` (optionally preceded by `pub`)",
            )
        })?;
        let name: Ident = input.parse()?;
        let body;
        braced!(body in input);
        let mut model = Model {
            attrs,
            vis,
            name,
            neurons: Vec::new(),
            functions: Vec::new(),
            inputs: Vec::new(),
            layers: Vec::new(),
            energies: Vec::new(),
            learn: Vec::new(),
        };
        let mut item = 0;
        while !body.is_empty() {
            item += 1;
            let head = body.fork().call(Ident::parse_any_ident).map_err(|_| {
                body.error("expected one of `neuron`, `fn`, `input`, `layer`, `energy`, `learn`")
            })?;
            match head.to_string().as_str() {
                "neuron" => model.neurons.push(NeuronDecl {
                    item,
                    ..body.parse()?
                }),
                "fn" => model.functions.push(FnDecl {
                    item,
                    ..body.parse()?
                }),
                "input" => model.inputs.push(InputDecl {
                    item,
                    ..body.parse()?
                }),
                "layer" => model.layers.push(LayerDecl {
                    item,
                    ..body.parse()?
                }),
                "energy" => model.energies.push(body.parse()?),
                "learn" => {
                    keyword(&body, "learn")?;
                    model.learn.extend(ident_list(&body)?);
                    body.parse::<Token![;]>()?;
                }
                other => {
                    return Err(syn::Error::new(
                        head.span(),
                        format!(
                            "unknown item `{other}`: expected one of `neuron`, `fn`, `input`, \
                             `layer`, `energy`, `learn`"
                        ),
                    ))
                }
            }
        }
        Ok(model)
    }
}

impl Parse for NeuronDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        keyword(input, "neuron")?;
        let name: Ident = input.parse()?;
        let body;
        braced!(body in input);
        let mut n = NeuronDecl {
            name,
            item: 0,
            params: Vec::new(),
            activations: Vec::new(),
            states: Vec::new(),
            mismatches: Vec::new(),
            prospectives: Vec::new(),
            rates: Vec::new(),
            lets: Vec::new(),
            declared: Vec::new(),
        };
        while !body.is_empty() {
            let head = body.call(Ident::parse_any_ident).map_err(|_| {
                body.error(
                    "expected one of `param`, `activation`, `state`, `mismatch`, \
                     `prospective`, `rate`, `let`",
                )
            })?;
            let role = match head.to_string().as_str() {
                "param" => Role::Param,
                "activation" => Role::Activation,
                "state" => Role::State,
                "mismatch" => Role::Mismatch,
                "prospective" => Role::Prospective,
                "rate" => Role::Rate,
                "let" => Role::Let,
                other => {
                    return Err(syn::Error::new(
                        head.span(),
                        format!(
                            "unknown neuron item `{other}`: expected one of `param`, \
                             `activation`, `state`, `mismatch`, `prospective`, `rate`, `let`"
                        ),
                    ))
                }
            };
            match role {
                Role::Param | Role::Activation | Role::State => {
                    let names = ident_list(&body)?;
                    n.declared.extend(names.iter().map(|id| (role, id.clone())));
                    match role {
                        Role::Param => n.params.extend(names),
                        Role::Activation => n.activations.extend(names),
                        _ => n.states.extend(names),
                    }
                }
                _ => {
                    let d = def(&body)?;
                    n.declared.push((role, d.name.clone()));
                    match role {
                        Role::Mismatch => n.mismatches.push(d),
                        Role::Prospective => n.prospectives.push(d),
                        Role::Rate => n.rates.push(d),
                        _ => n.lets.push(d),
                    }
                }
            }
            body.parse::<Token![;]>()?;
        }
        Ok(n)
    }
}

fn def(input: ParseStream) -> syn::Result<Def> {
    let name: Ident = input.parse()?;
    input.parse::<Token![=]>()?;
    let expr = parse_expr(input)?;
    Ok(Def { name, expr })
}

impl Parse for FnDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        input.parse::<Token![fn]>()?;
        let name: Ident = input.parse()?;
        let args_content;
        parenthesized!(args_content in input);
        let args = if args_content.is_empty() {
            Vec::new()
        } else {
            ident_list(&args_content)?
        };
        if !args_content.is_empty() {
            return Err(args_content.error("expected `,` or `)`"));
        }
        input.parse::<Token![=]>()?;
        let body = parse_expr(input)?;
        input.parse::<Token![;]>()?;
        Ok(FnDecl {
            name,
            item: 0,
            args,
            body,
        })
    }
}

impl Parse for InputDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        keyword(input, "input")?;
        let name: Ident = input.parse()?;
        input.parse::<Token![:]>()?;
        let (size, size_span) = count_lit(input, Count::InputSize)?;
        input.parse::<Token![;]>()?;
        Ok(InputDecl {
            name,
            item: 0,
            size,
            size_span,
        })
    }
}

impl Parse for LayerDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        keyword(input, "layer")?;
        let name: Ident = input.parse()?;
        input.parse::<Token![:]>()?;
        let (size, size_span) = count_lit(input, Count::LayerSize)?;
        input.parse::<Token![=]>()?;
        let neuron: Ident = input.parse()?;
        let mut bindings = Vec::new();
        if input.peek(syn::token::Brace) {
            let body;
            braced!(body in input);
            while !body.is_empty() {
                let key: Ident = body.parse()?;
                body.parse::<Token![:]>()?;
                let value = binding_value(&body)?;
                bindings.push(Binding { key, value });
                if body.is_empty() {
                    break;
                }
                body.parse::<Token![,]>()?;
            }
        }
        input.parse::<Token![<-]>().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected `<-` followed by the layer's sources, e.g. `<- x + bias`",
            )
        })?;
        let mut sources = Vec::new();
        let mut bias = None;
        loop {
            let id: Ident = input.parse()?;
            if id == "bias" {
                bias = Some(id.span());
            } else {
                sources.push(id);
            }
            if input.peek(Token![+]) {
                input.parse::<Token![+]>()?;
            } else {
                break;
            }
        }
        input.parse::<Token![;]>()?;
        Ok(LayerDecl {
            name,
            item: 0,
            size,
            size_span,
            neuron,
            bindings,
            sources,
            bias,
        })
    }
}

fn signed_number(input: ParseStream) -> syn::Result<(f64, Span)> {
    let neg = if input.peek(Token![-]) {
        Some(input.parse::<Token![-]>()?)
    } else {
        None
    };
    let (v, span) = if input.peek(syn::LitFloat) {
        let l: syn::LitFloat = input.parse()?;
        (l.base10_parse::<f64>()?, l.span())
    } else if input.peek(syn::LitInt) {
        let l: syn::LitInt = input.parse()?;
        (l.base10_parse::<f64>()?, l.span())
    } else {
        return Err(input.error("expected a number"));
    };
    // A negative literal is reported on its digits (stable proc macros cannot join spans).
    Ok(match neg {
        Some(_) => (-v, span),
        None => (v, span),
    })
}

fn binding_value(input: ParseStream) -> syn::Result<BindingValue> {
    if input.peek(Ident) {
        return Ok(BindingValue::Func(input.parse()?));
    }
    if input.peek(syn::token::Bracket) {
        let body;
        bracketed!(body in input);
        let mut groups = Vec::new();
        while !body.is_empty() {
            let (value, span) = signed_number(&body)?;
            let mut count = 1;
            if body.peek(Token![;]) {
                body.parse::<Token![;]>()?;
                count = count_lit(&body, Count::Repeat)?.0;
            }
            groups.push(ValueGroup { value, count, span });
            if body.is_empty() {
                break;
            }
            body.parse::<Token![,]>()?;
        }
        return Ok(BindingValue::Values(groups));
    }
    let (value, span) = signed_number(input).map_err(|e| {
        syn::Error::new(
            e.span(),
            "expected a number, a list `[..]` or a function name",
        )
    })?;
    Ok(BindingValue::Values(vec![ValueGroup {
        value,
        count: 0, // 0: broadcast to the whole layer
        span,
    }]))
}

impl Parse for EnergyDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        keyword(input, "energy")?;
        let eq: Token![=] = input.parse()?;
        let expr = parse_expr(input)?;
        input.parse::<Token![;]>()?;
        Ok(EnergyDecl {
            eq_span: eq.span,
            expr,
        })
    }
}

/// Parses an expression with mathematical precedence (Pratt parser).
pub fn parse_expr(input: ParseStream) -> syn::Result<MathExpr> {
    expr_bp(input, 0)
}

fn binop(input: ParseStream) -> Option<(BinOp, u8, u8)> {
    // (operator, left binding power, right binding power); `^` is right-associative.
    if input.peek(Token![+]) {
        Some((BinOp::Add, 1, 2))
    } else if input.peek(Token![-]) {
        Some((BinOp::Sub, 1, 2))
    } else if input.peek(Token![*]) {
        Some((BinOp::Mul, 3, 4))
    } else if input.peek(Token![/]) {
        Some((BinOp::Div, 3, 4))
    } else if input.peek(Token![^]) {
        Some((BinOp::Pow, 8, 7))
    } else {
        None
    }
}

fn expr_bp(input: ParseStream, min_bp: u8) -> syn::Result<MathExpr> {
    let mut lhs = if input.peek(Token![-]) {
        let minus: Token![-] = input.parse()?;
        // Unary minus binds looser than `^` (-x^2 = -(x^2)) and tighter than `*`.
        let expr = expr_bp(input, 5)?;
        MathExpr::Neg {
            span: minus.span,
            expr: Box::new(expr),
        }
    } else {
        atom(input)?
    };
    while let Some((op, lbp, rbp)) = binop(input) {
        if lbp < min_bp {
            break;
        }
        let span = input.span();
        match op {
            BinOp::Add => drop(input.parse::<Token![+]>()?),
            BinOp::Sub => drop(input.parse::<Token![-]>()?),
            BinOp::Mul => drop(input.parse::<Token![*]>()?),
            BinOp::Div => drop(input.parse::<Token![/]>()?),
            BinOp::Pow => drop(input.parse::<Token![^]>()?),
        }
        let rhs = expr_bp(input, rbp)?;
        lhs = MathExpr::Bin {
            op,
            span,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        };
    }
    Ok(lhs)
}

fn atom(input: ParseStream) -> syn::Result<MathExpr> {
    if input.peek(syn::token::Paren) {
        let body;
        parenthesized!(body in input);
        let e = parse_expr(&body)?;
        if !body.is_empty() {
            return Err(body.error("unexpected tokens in parentheses"));
        }
        return Ok(e);
    }
    if input.peek(syn::LitFloat) || input.peek(syn::LitInt) {
        let (value, span) = signed_number(input)?;
        return Ok(MathExpr::Num { value, span });
    }
    if input.peek(Ident) {
        let id: Ident = input.parse()?;
        if input.peek(syn::token::Paren) {
            let body;
            parenthesized!(body in input);
            let mut args = Vec::new();
            while !body.is_empty() {
                args.push(parse_expr(&body)?);
                if body.is_empty() {
                    break;
                }
                body.parse::<Token![,]>()?;
            }
            return Ok(MathExpr::Call { func: id, args });
        }
        if input.peek(Token![.]) {
            input.parse::<Token![.]>()?;
            let field: Ident = input.parse()?;
            return Ok(MathExpr::Field { base: id, field });
        }
        return Ok(MathExpr::Var(id));
    }
    Err(input.error("expected an expression: a number, a name, a call or `( ... )`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn show(e: &MathExpr) -> String {
        match e {
            MathExpr::Num { value, .. } => format!("{value}"),
            MathExpr::Var(id) => id.to_string(),
            MathExpr::Field { base, field } => format!("{base}.{field}"),
            MathExpr::Call { func, args } => format!(
                "{func}({})",
                args.iter().map(show).collect::<Vec<_>>().join(", ")
            ),
            MathExpr::Neg { expr, .. } => format!("(-{})", show(expr)),
            MathExpr::Bin { op, lhs, rhs, .. } => {
                let o = match op {
                    BinOp::Add => "+",
                    BinOp::Sub => "-",
                    BinOp::Mul => "*",
                    BinOp::Div => "/",
                    BinOp::Pow => "^",
                };
                format!("({} {o} {})", show(lhs), show(rhs))
            }
        }
    }

    fn expr(ts: proc_macro2::TokenStream) -> String {
        let e = syn::parse::Parser::parse2(parse_expr, ts).unwrap();
        show(&e)
    }

    #[test]
    fn precedence_is_mathematical() {
        assert_eq!(expr(quote!(a + b ^ 2)), "(a + (b ^ 2))");
        assert_eq!(expr(quote!(-x ^ 2)), "(-(x ^ 2))");
        assert_eq!(expr(quote!(a - b - c)), "((a - b) - c)");
        assert_eq!(expr(quote!(a ^ b ^ c)), "(a ^ (b ^ c))");
        assert_eq!(expr(quote!(a * -b + c / d)), "((a * (-b)) + (c / d))");
        assert_eq!(
            expr(quote!(u + tau_m * d(u) - input)),
            "((u + (tau_m * d(u))) - input)"
        );
        assert_eq!(expr(quote!(mse(out.r, target))), "mse(out.r, target)");
    }

    #[test]
    fn expressions_print_as_written() {
        // Printing inserts only the parentheses precedence needs, and reads back the same.
        for src in [
            "a - (b - c)",
            "-x^2",
            "(-x)^2",
            "a^-b",
            "a^b^c",
            "(a^b)^c",
            "a / (b * c)",
            "(a + b) * c",
            "ln(1 + u) / u",
            "mse(out.r, target)",
        ] {
            let ts: proc_macro2::TokenStream = src.parse().unwrap();
            let e = syn::parse::Parser::parse2(parse_expr, ts).unwrap();
            assert_eq!(e.to_string(), src);
        }
    }

    #[test]
    fn parses_a_network() {
        let m = parse_model(quote! {
            /// doc
            pub network LagNet {
                neuron Gle {
                    param tau_m, tau_r;
                    activation phi;
                    state u;
                    mismatch e = u + tau_m * d(u) - input;
                    prospective ubreve = u + tau_r * d(u);
                    rate r = phi(ubreve);
                }
                fn soft(x) = ln(1 + exp(x));
                input x: 1;
                layer h1: 2 = Gle { phi: tanh, tau_m: 1.0, tau_r: [1.0, 0.1] } <- x + bias;
                layer out: 1 = Gle { phi: identity, tau_m: 1.0, tau_r: [1.0; 1] } <- h1;
                energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
                learn W, b, tau_m;
            }
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.name, "LagNet");
        assert_eq!(m.neurons[0].states.len(), 1);
        assert_eq!(m.layers.len(), 2);
        assert!(m.layers[0].bias.is_some() && m.layers[1].bias.is_none());
        assert_eq!(m.learn.len(), 3);
        assert_eq!(m.functions[0].args.len(), 1);
    }

    #[test]
    fn syntax_errors_are_errors_not_panics() {
        for ts in [
            quote!(),
            quote!(network),
            quote!(network N { layer h: = G <- x; }),
            quote!(network N { bogus; }),
            quote!(network N { neuron G { state u mismatch e = u; } }),
            quote!(network N { layer h: 2 = G { tau: [1.0 2.0] } <- x; }),
            quote!(network N { energy = 0.5 * ; }),
        ] {
            assert!(parse_model(ts).is_err());
        }
    }
}
