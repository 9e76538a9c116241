//! The enumerated words of the domain, spelled as in the glossary.
//!
//! Each type parses from and prints to exactly one lower-case name, which is
//! what the protos, the JSON output, the CLI and the database all carry.

use std::fmt;

/// A name that is not one of a type's known values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{given}`; expected one of: {expected}")]
pub struct UnknownName {
    pub what: &'static str,
    pub given: String,
    pub expected: String,
}

macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used in protos, JSON, the CLI and the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }

            pub fn parse(text: &str) -> Result<Self, UnknownName> {
                match text {
                    $( $text => Ok($name::$variant), )+
                    _ => Err(UnknownName {
                        what: $what,
                        given: text.chars().take(64).collect(),
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

named_enum! {
    /// What the caller's problem is about; decides the limitation rules.
    Matter, "matter" {
        /// 劳动报酬 / 欠薪
        LaborWages => "labor-wages",
        /// 解除劳动关系
        LaborTermination => "labor-termination",
        /// 工伤
        WorkInjury => "work-injury",
        /// 房屋租赁
        HousingLease => "housing-lease",
        /// 征地拆迁 (administrative)
        LandExpropriation => "land-expropriation",
        /// 土地流转 (civil)
        LandTransfer => "land-transfer",
        /// 婚姻家庭
        Family => "family",
        /// 交通事故 / 人身损害
        PersonalInjury => "personal-injury",
        /// 食品药品 / 教育医疗
        ConsumerMedicalEducation => "consumer-medical-education",
        /// 其他
        Other => "other",
    }
}

named_enum! {
    /// How soon a lawyer must act (Legal Aid Law art. 44).
    Urgency, "urgency" {
        Critical => "critical",
        Urgent => "urgent",
        Expired => "expired",
        Normal => "normal",
    }
}

named_enum! {
    /// Groups that get the green channel (绿色通道).
    PriorityGroup, "priority group" {
        MigrantWorker => "migrant-worker",
        DisabledOrElderly => "disabled-or-elderly",
        /// 军人军属、退役军人、烈属 (`veteran` before this version).
        Military => "military",
        /// A 2020 category, reachable only behind a menu setting.
        FrontlineWorker => "frontline-worker",
        /// 低保、特困
        SocialAssistance => "social-assistance",
        /// A minor, or an application made for a child.
        Minor => "minor",
        /// 遭受家庭暴力、虐待、遗弃: no hardship condition (Legal Aid Law art. 32).
        DomesticViolence => "domestic-violence",
        None => "none",
    }
}

named_enum! {
    /// A document the caller received that starts a procedural deadline
    /// (判决书 / 裁定书 / 仲裁裁决书 / 行政决定书 / 复议决定书).
    Document, "document" {
        /// A court judgment: appeal within 15 days (Civil Procedure Law art. 171).
        Judgment => "judgment",
        /// A court ruling (裁定): appeal within 10 days.
        Ruling => "ruling",
        /// An arbitral award (labour, or rural land contract).
        ArbitralAward => "arbitral-award",
        /// An administrative decision: expropriation, demolition, a penalty,
        /// work-injury recognition.
        AdministrativeDecision => "administrative-decision",
        /// An administrative reconsideration decision.
        ReconsiderationDecision => "reconsideration-decision",
    }
}

named_enum! {
    /// Why the economic-hardship check does not stand in the caller's way,
    /// as the caller claims it (proof is still required).
    HardshipBasis, "hardship basis" {
        /// Art. 42(1): minors, elderly or disabled people without a fixed income.
        Art42Minors => "art-42-1",
        /// Art. 42(2): social or judicial assistance, entitled groups (优抚对象).
        Art42Assistance => "art-42-2",
        /// Art. 42(3): migrant workers claiming wages or work-injury compensation.
        Art42MigrantWorkers => "art-42-3",
        /// Art. 32: no hardship condition at all (domestic violence, abuse,
        /// abandonment, …).
        Art32 => "art-32",
    }
}

impl HardshipBasis {
    /// The article as a lawyer reads it.
    pub fn article(self) -> &'static str {
        match self {
            HardshipBasis::Art42Minors => "Legal Aid Law art. 42(1)",
            HardshipBasis::Art42Assistance => "Legal Aid Law art. 42(2)",
            HardshipBasis::Art42MigrantWorkers => "Legal Aid Law art. 42(3)",
            HardshipBasis::Art32 => "Legal Aid Law art. 32",
        }
    }
}

named_enum! {
    /// A formal application (申请), a consultation (咨询), or a callback
    /// (回电登记): a caller who hung up after choosing a service, before
    /// the request was complete, to be called back.
    TicketKind, "ticket kind" {
        Application => "application",
        Consultation => "consultation",
        Callback => "callback",
    }
}

named_enum! {
    /// Where a ticket is in its lifecycle.
    TicketState, "ticket state" {
        Consultation => "consultation",
        /// A caller who hung up before finishing, waiting for a call back.
        Callback => "callback",
        Application => "application",
        /// Aid given first, before the centre's decision (art. 44).
        Provisional => "provisional",
        Accepted => "accepted",
        Rejected => "rejected",
        Assigned => "assigned",
        InProgress => "in_progress",
        Closed => "closed",
    }
}

named_enum! {
    /// The language the caller chose.
    Language, "language" {
        Zh => "zh",
        En => "en",
    }
}

impl TicketKind {
    /// The state a new ticket of this kind starts in.
    pub fn initial_state(self) -> TicketState {
        match self {
            TicketKind::Application => TicketState::Application,
            TicketKind::Consultation => TicketState::Consultation,
            TicketKind::Callback => TicketState::Callback,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in Matter::ALL {
            assert_eq!(Matter::parse(m.as_str()), Ok(*m));
        }
        for s in TicketState::ALL {
            assert_eq!(TicketState::parse(s.as_str()), Ok(*s));
        }
        assert_eq!(Matter::ALL.len(), 10);
    }

    #[test]
    fn unknown_names_list_the_expected_ones() {
        let err = Matter::parse("labour").unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("unknown matter `labour`"), "{message}");
        assert!(message.contains("labor-termination"), "{message}");
    }
}
