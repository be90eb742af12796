//! Errors of the runtime. Every message says what is wrong and how to fix it.

use std::fmt;

/// Where a non-finite value was found.
#[derive(Clone, Debug, PartialEq)]
pub struct Location {
    /// Layer quantity or parameter, e.g. `"h1.u[3]"`, `"h1.tau_m[0]"`.
    pub name: String,
    /// Time step index (within the run or window), when known.
    pub step: Option<usize>,
    /// Sample index in the batch, when known.
    pub sample: Option<usize>,
}

/// An error of the runtime.
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// A slice has the wrong length.
    Length {
        /// The slice, in words (e.g. `"the parameter vector"`).
        what: String,
        /// The length it must have, from the network's constants and the batch.
        expected: usize,
        /// The length it has.
        got: usize,
    },
    /// A NaN or infinity appeared, or was passed in.
    ///
    /// The entry points check what they are given before they integrate, so the message blames
    /// the right thing: `"input"` and `"target"` are values a signal or the caller's slices gave
    /// (named `x[i]`/`y[i]`, with the step and sample); `"parameter"` and `"state"` without a
    /// step were passed in by the caller; `"state"`, `"parameter"`, `"gradient"` and `"loss"`
    /// with a step were produced by vle at that step (the dynamics or the training diverged).
    NonFinite {
        /// What kind of value: `"input"`, `"target"`, `"state"`, `"parameter"`, `"gradient"`,
        /// `"loss"`, ...
        quantity: &'static str,
        /// Where it appeared; `step` is `None` for values passed in before any step.
        at: Location,
        /// The offending value (NaN or ±∞).
        value: f64,
    },
    /// A time constant is smaller than the step `dt` (explicit Euler needs dt ≤ τ).
    TimeConstantBelowDt {
        /// Name of the parameter tensor, e.g. `"h1.tau_r"`.
        param: String,
        /// Index of the entry within that tensor (the neuron).
        entry: usize,
        /// The time constant.
        value: f64,
        /// The step it must not fall below.
        dt: f64,
    },
    /// A time constant is zero or negative.
    NonPositiveTimeConstant {
        /// Name of the parameter tensor, e.g. `"h1.tau_m"`.
        param: String,
        /// Index of the entry within that tensor (the neuron).
        entry: usize,
        /// The time constant (≤ 0).
        value: f64,
    },
    /// No data to work on (no samples, no steps).
    EmptyData {
        /// What is empty, e.g. `"the training set"`.
        what: String,
    },
    /// The network does not define what was asked (e.g. continuous-time kernels of a network
    /// with recurrent projections).
    Unsupported {
        /// The network's `NAME`.
        network: &'static str,
        /// What it does not define, and what to use instead.
        what: String,
    },
    /// A hyper-parameter is out of its valid range.
    InvalidHyperParameter {
        /// The setting, e.g. `"dt"` or `"Mnist1dConfig::train_split"`.
        name: String,
        /// Its value (converted to `f64` for integer settings).
        value: f64,
        /// The valid range, in words.
        expected: String,
    },
    /// An argument of a constructor or function is inconsistent (e.g. three amplitudes but
    /// two frequencies).
    InvalidArgument {
        /// The argument, as the caller wrote it (e.g. `"Sines::new frequencies"`).
        argument: String,
        /// What is wrong with it, and what to give instead.
        problem: String,
    },
    /// A file (or a named in-memory buffer) could not be read or written, or its content is
    /// not what was expected (format, shape, type, values).
    File {
        /// The file's path, with the archive member when there is one (`data.npz:x.npy`).
        path: String,
        /// What is wrong, and how to fix it when that is known.
        problem: String,
    },
    /// A checkpoint could not be written or read, or is not one this network can resume
    /// from (see [`crate::checkpoint`]).
    Checkpoint {
        /// The checkpoint's path (or the name given to an in-memory checkpoint).
        path: String,
        /// What is wrong, and how to fix it when that is known.
        what: String,
    },
}

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.name)?;
        if let Some(s) = self.step {
            write!(f, " at step {s}")?;
        }
        if let Some(b) = self.sample {
            write!(f, " of sample {b}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Length {
                what,
                expected,
                got,
            } => write!(
                f,
                "{what} has length {got} but {expected} was expected; \
                 size it from the network's constants (PARAMS, STATE, INPUT, ...) and the batch"
            ),
            Error::NonFinite {
                quantity,
                at,
                value,
            } => {
                write!(f, "non-finite {quantity} ({value}) in {at}")?;
                let given = at.step.is_none();
                match *quantity {
                    "input" | "target" => write!(
                        f,
                        "; the {quantity} passed in (by the signal or the data slices) holds NaN \
                         or infinity there: fix or clean the data (vle checks inputs and \
                         targets before it integrates)"
                    ),
                    "parameter" if given => write!(
                        f,
                        "; the parameter vector passed in holds it (vle did not produce it): \
                         set a finite value, e.g. from init_params or a good checkpoint"
                    ),
                    "state" if given => write!(
                        f,
                        "; the state passed in holds it (vle did not produce it): start from \
                         finite states, e.g. zeros or a good checkpoint"
                    ),
                    "state" | "loss" => write!(
                        f,
                        "; the dynamics diverged: reduce dt or the learning rate, \
                         or check the input and the time constants"
                    ),
                    "gradient" | "parameter" => write!(
                        f,
                        "; training diverged: reduce the learning rate or beta, \
                         or clip the inputs"
                    ),
                    _ => write!(f, "; check the inputs for NaN or infinity"),
                }
            }
            Error::Unsupported { network, what } => write!(f, "network `{network}`: {what}"),
            Error::TimeConstantBelowDt {
                param,
                entry,
                value,
                dt,
            } => write!(
                f,
                "time constant `{param}`[{entry}] = {value} is smaller than dt = {dt}; \
                 explicit Euler needs dt <= tau: reduce dt or raise the time constant"
            ),
            Error::NonPositiveTimeConstant {
                param,
                entry,
                value,
            } => write!(
                f,
                "time constant `{param}`[{entry}] = {value} is not positive; \
                 time constants must be > 0 (and >= dt)"
            ),
            Error::EmptyData { what } => {
                write!(
                    f,
                    "{what} is empty; provide at least one sample and one step"
                )
            }
            Error::InvalidHyperParameter {
                name,
                value,
                expected,
            } => write!(
                f,
                "hyper-parameter `{name}` = {value} is invalid: expected {expected}"
            ),
            Error::InvalidArgument { argument, problem } => {
                write!(f, "argument `{argument}`: {problem}")
            }
            Error::File { path, problem } => write!(f, "file `{path}`: {problem}"),
            Error::Checkpoint { path, what } => write!(f, "checkpoint `{path}`: {what}"),
        }
    }
}

impl std::error::Error for Error {}

/// `Ok(())` when `got == expected`, else [`Error::Length`].
pub fn check_len(what: &str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::Length {
            what: what.to_string(),
            expected,
            got,
        })
    }
}

/// Refuses continuous-time work on networks that define only the discrete system.
pub fn require_continuous<N: crate::Network>() -> Result<()> {
    if N::CONTINUOUS {
        Ok(())
    } else {
        Err(Error::Unsupported {
            network: N::NAME,
            what: "its recurrent projections make the continuous-time system an algebraic loop, \
                   so only the discrete (Euler) system is defined: use Scheme::Euler and the \
                   discrete exact gradient"
                .into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_problem_and_the_fix() {
        let e = Error::TimeConstantBelowDt {
            param: "h1.tau_r".into(),
            entry: 2,
            value: 0.05,
            dt: 0.1,
        };
        let s = e.to_string();
        assert!(s.contains("h1.tau_r") && s.contains("[2]") && s.contains("reduce dt"));
        let e = Error::NonFinite {
            quantity: "state",
            at: Location {
                name: "h1.u[0]".into(),
                step: Some(7),
                sample: Some(1),
            },
            value: f64::NAN,
        };
        let s = e.to_string();
        assert!(s.contains("h1.u[0]") && s.contains("step 7") && s.contains("sample 1"));
        assert!(check_len("x", 3, 2)
            .unwrap_err()
            .to_string()
            .contains("length 2"));
    }
}
