//! [`words!`]: an enum each of whose values is stored and shown as one fixed word, with
//! `as_str`, `parse` and `Display` written once.

/// Declares a `Copy` enum whose every value has one word: `as_str` gives it, `parse` takes
/// it back (`None` for any other text), `ALL` lists the values in order, and `Display`
/// writes the word.
#[macro_export]
macro_rules! words {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }

            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($word => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::words! {
        enum Light {
            Red = "red",
            /// Documented.
            Green = "green",
        }
    }

    #[test]
    fn every_word_parses_back_and_nothing_else_does() {
        for l in Light::ALL {
            assert_eq!(Light::parse(l.as_str()), Some(*l));
        }
        assert_eq!(Light::parse("Red"), None);
        assert_eq!(Light::parse(""), None);
        assert_eq!(Light::Green.to_string(), "green");
    }
}
