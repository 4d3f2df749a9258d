//! Physical quantities as types, so a current is never passed where a voltage is meant.

use serde::{Deserialize, Serialize};
use std::ops::{Add, AddAssign, Mul, Sub};

macro_rules! quantity {
    ($(#[$doc:meta])* $name:ident, $unit:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub f64);

        impl $name {
            /// Zero.
            pub const ZERO: $name = $name(0.0);

            /// The value in the base unit.
            pub const fn value(self) -> f64 {
                self.0
            }

            /// The smaller of two values.
            pub fn min(self, other: $name) -> $name {
                $name(self.0.min(other.0))
            }

            /// The larger of two values.
            pub fn max(self, other: $name) -> $name {
                $name(self.0.max(other.0))
            }

            /// The value limited to `low..=high`.
            pub fn clamp(self, low: $name, high: $name) -> $name {
                $name(self.0.max(low.0).min(high.0))
            }

            /// The magnitude.
            pub fn abs(self) -> $name {
                $name(self.0.abs())
            }
        }

        impl Add for $name {
            type Output = $name;
            fn add(self, rhs: $name) -> $name {
                $name(self.0 + rhs.0)
            }
        }

        impl AddAssign for $name {
            fn add_assign(&mut self, rhs: $name) {
                self.0 += rhs.0;
            }
        }

        impl Sub for $name {
            type Output = $name;
            fn sub(self, rhs: $name) -> $name {
                $name(self.0 - rhs.0)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{} {}", self.0, $unit)
            }
        }
    };
}

quantity!(
    /// Electric potential in volts.
    Volts,
    "V"
);
quantity!(
    /// Electric current in amperes.
    Amps,
    "A"
);
quantity!(
    /// Power in watts.
    Watts,
    "W"
);
quantity!(
    /// Energy in watt-hours.
    WattHours,
    "Wh"
);
quantity!(
    /// Resistance in ohms.
    Ohms,
    "Ω"
);

impl Mul<Amps> for Volts {
    type Output = Watts;
    fn mul(self, rhs: Amps) -> Watts {
        Watts(self.0 * rhs.0)
    }
}

impl Watts {
    /// The current this power draws at `voltage` (zero at zero volts).
    pub fn at(self, voltage: Volts) -> Amps {
        if voltage.0.abs() < f64::EPSILON {
            Amps::ZERO
        } else {
            Amps(self.0 / voltage.0)
        }
    }

    /// The energy of this power held for `seconds`.
    pub fn over_seconds(self, seconds: f64) -> WattHours {
        WattHours(self.0 * seconds / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_keeps_units() {
        let p = Volts(400.0) * Amps(50.0);
        assert_eq!(p, Watts(20_000.0));
        assert_eq!(p.at(Volts(400.0)), Amps(50.0));
        assert_eq!(Watts(3600.0).over_seconds(1.0), WattHours(1.0));
        assert_eq!(Amps(250.0).clamp(Amps::ZERO, Amps(200.0)), Amps(200.0));
        assert_eq!(Watts(1.0).at(Volts::ZERO), Amps::ZERO);
    }
}
