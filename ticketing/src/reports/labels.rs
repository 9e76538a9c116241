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
    ("callback", "回电登记", "Callback"),
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
    // Offer states.
    ("pending", "待确认", "Pending"),
    ("acknowledged", "已确认", "Acknowledged"),
    ("declined", "已拒绝", "Declined"),
    ("withdrawn", "已撤回", "Withdrawn"),
    // Events in a ticket's history.
    ("created", "登记", "Created"),
    ("transitioned", "状态变更", "State changed"),
    ("corrected", "更正", "Corrected"),
    ("note", "备注", "Note"),
    ("reevaluated", "重新评估", "Re-evaluated"),
    ("recording_added", "录音", "Recording added"),
    ("offered", "派单", "Offered"),
    ("offer_acknowledged", "律师确认", "Offer acknowledged"),
    ("offer_declined", "律师拒绝", "Offer declined"),
    ("offer_expired", "派单超时", "Offer expired"),
    ("offer_reminder", "派单提醒", "Offer reminder"),
    ("escalated", "升级", "Escalated"),
    ("start_overdue", "逾期未办理", "Start overdue"),
    ("offer_withdrawn", "派单撤回", "Offer withdrawn"),
    ("reassigned", "改派", "Reassigned"),
    ("owned", "承接", "Taken"),
    ("materials_received", "材料齐全", "Materials received"),
    ("decision_overdue", "审查决定逾期", "Decision overdue"),
    ("assignment_overdue", "指派逾期", "Assignment overdue"),
    ("recording_removed", "录音已删除", "Recording removed"),
    ("anonymised", "已匿名化", "Anonymised"),
    ("major_case", "列为重点督办", "Marked a major case"),
    ("callback_attempt", "回电", "Callback attempt"),
    ("callback_flagged", "回电未果，转主管", "Callback flagged"),
    ("answered", "已接通", "Answered"),
    ("no-answer", "无人接听", "No answer"),
    ("busy", "占线", "Busy"),
    ("wrong-number", "号码错误", "Wrong number"),
    ("message-left", "已留言", "Message left"),
];

/// (figure name, Chinese, English) of the reports' summary and time figures
/// and the count sections.
const FIGURES: &[(&str, &str, &str)] = &[
    ("tickets", "登记总数", "Tickets"),
    ("urgent_cases", "紧急/较急案件", "Critical and urgent"),
    (
        "migrant_wage_cases",
        "农民工欠薪案件",
        "Migrant workers' wage cases",
    ),
    (
        "provisional_aid",
        "先行提供法律援助",
        "Provisional aid given",
    ),
    ("home_visits", "上门服务", "Home visits"),
    ("pledges", "承诺代替证明", "Pledges instead of proof"),
    ("offers_missed", "派单超时未确认", "Offers missed"),
    (
        "decisions_overdue",
        "审查决定逾期",
        "Art. 43 decisions overdue",
    ),
    (
        "assignments_overdue",
        "指派逾期",
        "Art. 43 assignments overdue",
    ),
    (
        "to_acknowledgement",
        "登记至律师确认",
        "Creation to acknowledgement",
    ),
    ("to_assignment", "登记至指派", "Creation to assignment"),
    (
        "urgent_to_acknowledgement",
        "紧急/较急：登记至确认",
        "Critical and urgent: to acknowledgement",
    ),
    ("matter", "按事项", "By matter"),
    ("urgency", "按紧急程度", "By urgency"),
    ("priority_group", "按优先群体", "By priority group"),
    ("channel", "按渠道", "By channel"),
    ("state", "按状态", "By state"),
    ("outcome", "按办理结果", "By outcome"),
    ("region", "按地区", "By region"),
];

/// The label of a report figure or section; its name when it has none.
pub fn figure(lang: Lang, name: &str) -> &str {
    FIGURES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, zh, en)| lang.pick(zh, en))
        .unwrap_or(name)
}

/// The label of a domain value; the value itself when it has none.
pub fn value(lang: Lang, code: &str) -> String {
    VALUES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, zh, en)| lang.pick(zh, en).to_owned())
        .unwrap_or_else(|| code.to_owned())
}
