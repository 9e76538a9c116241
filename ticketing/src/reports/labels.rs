//! The console's and reports' words: Chinese by default, English by a
//! switch. Domain values (matters, groups, states) keep their code names in
//! CSV; people read these labels.

/// The language a page or report is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// Picks the text of this language.
    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

/// (code name, Chinese, English) of every domain value a page shows.
const VALUES: &[(&str, &str, &str)] = &[
    // Matters.
    ("labor-wages", "劳动报酬", "Wages"),
    (
        "labor-termination",
        "解除劳动关系",
        "Termination of employment",
    ),
    ("work-injury", "工伤", "Work injury"),
    ("housing-lease", "房屋租赁", "Housing lease"),
    ("land-expropriation", "征地拆迁", "Land expropriation"),
    ("land-transfer", "土地流转", "Land-use transfer"),
    ("family", "婚姻家庭", "Marriage and family"),
    ("personal-injury", "交通事故/人身损害", "Personal injury"),
    (
        "consumer-medical-education",
        "食品药品/教育医疗",
        "Consumer, medical, education",
    ),
    ("other", "其他", "Other"),
    // Urgency.
    ("critical", "紧急", "Critical"),
    ("urgent", "较急", "Urgent"),
    ("expired", "时效已届满", "Expired"),
    ("normal", "一般", "Normal"),
    ("unassessed", "未评估", "Not assessed"),
    // Priority groups.
    ("migrant-worker", "农民工", "Migrant worker"),
    (
        "disabled-or-elderly",
        "残疾人/老年人",
        "Disabled or elderly",
    ),
    ("military", "军人军属", "Military"),
    ("frontline-worker", "一线人员", "Frontline worker"),
    ("social-assistance", "低保/特困", "Social assistance"),
    ("minor", "未成年人", "Minor"),
    ("domestic-violence", "家庭暴力受害人", "Domestic violence"),
    ("none", "无", "None"),
    // Kinds and states.
    ("consultation", "咨询", "Consultation"),
    ("application", "申请", "Application"),
    ("provisional", "先行援助", "Provisional aid"),
    ("accepted", "已受理", "Accepted"),
    ("rejected", "不予援助", "Rejected"),
    ("assigned", "已指派", "Assigned"),
    ("in_progress", "办理中", "In progress"),
    ("closed", "已结案", "Closed"),
    // Channels.
    ("phone", "电话", "Phone"),
    ("staff", "人工录入", "Staff"),
    ("unknown", "未知", "Unknown"),
    ("unstated", "未注明", "Not stated"),
];

/// The label of a domain value; the value itself when it has none.
pub fn value(lang: Lang, code: &str) -> String {
    VALUES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, zh, en)| lang.pick(zh, en).to_owned())
        .unwrap_or_else(|| code.to_owned())
}
