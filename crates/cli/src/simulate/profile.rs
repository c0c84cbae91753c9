//! The simulated districts: the exact counts each plan is built to, and what a profile
//! adds to its registry's categories (how often each is reported, who responds, what the
//! reports say). Codes and default deadlines come from the registry alone.

use clap::ValueEnum;
use gridledger_domain::{CategoryCode, DurationMicros, Registry};

/// A simulated district and the figures its plan is built to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// Runzhou, Zhenjiang (built-in registry), 2018–2022: 4,350 issues accepted, 2,750
    /// deliberation meetings, 40,000 participants, closure rate 98.7%.
    Runzhou,
    /// Dantu (built-in registry `dantu`, synthetic: a smaller, more rural district),
    /// 2018–2022: 2,400 issues reported, 2,356 accepted, 1,310 deliberation meetings,
    /// 18,800 participants, closure rate 98.3%.
    Dantu,
}

impl Profile {
    /// The profile's name, as given on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Runzhou => "runzhou",
            Profile::Dantu => "dantu",
        }
    }

    /// The registry the profile's issues are reported in (the server must serve the same one).
    pub fn registry(self) -> Registry {
        match self {
            Profile::Runzhou => Registry::builtin_runzhou(),
            Profile::Dantu => Registry::builtin_dantu(),
        }
    }

    /// The exact counts the plan is built to.
    pub fn targets(self) -> ProfileTargets {
        match self {
            Profile::Runzhou => ProfileTargets {
                handled_in_grid: 700,
                dispatched_and_resolved: 400,
                escalated_and_resolved: 136,
                single_issue_meetings: 2_480,
                two_issue_meetings: 220,
                three_issue_meetings: 50,
                meetings_whose_issue_stays_open: 12,
                open_reported: 20,
                open_dispatched: 24,
                withdrawn_out_of_scope: 34,
                withdrawn_by_reporter: 26,
                withdrawn_as_duplicates: 10,
                withdrawn_after_dispatch: 20,
                reopened_and_resolved_again: 95,
                participants_total: 40_000,
            },
            // 2,400 reports: 1,500 deliberated (1,150 + 2 x 130 + 3 x 30), 520 handled in
            // grid, 240 dispatched, 64 escalated, 14 + 18 left open, 44 withdrawn; 41 open
            // in all (9 + 14 + 18), so 2,315 of 2,356 accepted are closed.
            Profile::Dantu => ProfileTargets {
                handled_in_grid: 520,
                dispatched_and_resolved: 240,
                escalated_and_resolved: 64,
                single_issue_meetings: 1_150,
                two_issue_meetings: 130,
                three_issue_meetings: 30,
                meetings_whose_issue_stays_open: 9,
                open_reported: 14,
                open_dispatched: 18,
                withdrawn_out_of_scope: 22,
                withdrawn_by_reporter: 16,
                withdrawn_as_duplicates: 6,
                withdrawn_after_dispatch: 12,
                reopened_and_resolved_again: 52,
                participants_total: 18_800,
            },
        }
    }

    /// What the profile says about each category, by category code.
    fn category_descriptions(self) -> &'static [CategoryProfile] {
        match self {
            Profile::Runzhou => &RUNZHOU_CATEGORIES,
            Profile::Dantu => &DANTU_CATEGORIES,
        }
    }

    /// The registry's categories, in the registry's order, each with what the profile says
    /// about it. Refused when the registry has a category the profile does not describe
    /// (its reports could not be drawn) or the profile describes one the registry lacks
    /// (its share of the reports would silently go to the others).
    pub fn categories(self, registry: &Registry) -> anyhow::Result<Vec<PlannedCategory>> {
        let descriptions = self.category_descriptions();
        let mut categories = Vec::with_capacity(registry.categories().len());
        let mut undescribed = Vec::new();
        for category in registry.categories() {
            match descriptions
                .iter()
                .find(|description| description.code == category.code().as_str())
            {
                Some(profile) => categories.push(PlannedCategory {
                    code: category.code().clone(),
                    default_deadline: category.default_handling_deadline(),
                    profile,
                }),
                None => undescribed.push(category.code().as_str()),
            }
        }
        anyhow::ensure!(
            undescribed.is_empty(),
            "profile {} does not describe the registry's categories {} (their frequency, responders and titles)",
            self.name(),
            undescribed.join(", ")
        );
        let unregistered: Vec<&str> = descriptions
            .iter()
            .map(|description| description.code)
            .filter(|code| !categories.iter().any(|category| category.code.as_str() == *code))
            .collect();
        anyhow::ensure!(
            unregistered.is_empty(),
            "profile {} describes categories its registry does not have: {}",
            self.name(),
            unregistered.join(", ")
        );
        Ok(categories)
    }
}

/// A registry category as the planner draws it: the registry's code and default deadline,
/// and the profile's description.
#[derive(Debug, Clone)]
pub struct PlannedCategory {
    pub code: CategoryCode,
    /// The due_at a report gets: its time plus this.
    pub default_deadline: DurationMicros,
    pub profile: &'static CategoryProfile,
}

/// The exact counts of a profile's plan. The reports are the issues handled in grid,
/// dispatched, escalated, deliberated (1, 2 or 3 per meeting), left open (reported or
/// dispatched) and withdrawn; the open issues are those of the meetings whose issue stays
/// open plus the ones left reported or dispatched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileTargets {
    /// Issues handled on the spot in their grid (HandleInGrid).
    pub handled_in_grid: usize,
    /// Issues dispatched, accepted and resolved.
    pub dispatched_and_resolved: usize,
    /// Issues escalated to the committee, decided on and resolved (not deliberated).
    pub escalated_and_resolved: usize,
    /// Meetings taking up one issue.
    pub single_issue_meetings: usize,
    /// Meetings taking up two issues of one community.
    pub two_issue_meetings: usize,
    /// Meetings taking up three issues of one community.
    pub three_issue_meetings: usize,
    /// Single-issue meetings (late in the period) whose issue is left IN_PROGRESS.
    pub meetings_whose_issue_stays_open: usize,
    /// Accepted issues left REPORTED.
    pub open_reported: usize,
    /// Accepted issues dispatched and left IN_PROGRESS.
    pub open_dispatched: usize,
    /// Issues withdrawn as OUT_OF_SCOPE.
    pub withdrawn_out_of_scope: usize,
    /// Issues withdrawn as REPORTER_WITHDREW.
    pub withdrawn_by_reporter: usize,
    /// Issues withdrawn as DUPLICATE of an earlier issue of the same community.
    pub withdrawn_as_duplicates: usize,
    /// How many of the withdrawn issues were dispatched (IN_PROGRESS) before withdrawal.
    pub withdrawn_after_dispatch: usize,
    /// Closed issues reopened once and resolved again.
    pub reopened_and_resolved_again: usize,
    /// Participants of all meetings together (each meeting counted once).
    pub participants_total: u64,
}

impl ProfileTargets {
    pub fn withdrawn(&self) -> usize {
        self.withdrawn_out_of_scope + self.withdrawn_by_reporter + self.withdrawn_as_duplicates
    }
}

/// What a profile says about one category, which the registry does not: how often it is
/// reported, who a dispatch goes to, and what reports say.
#[derive(Debug)]
pub struct CategoryProfile {
    /// The registry's category code.
    pub code: &'static str,
    /// Relative frequency among reports.
    pub weight: u32,
    /// Who a dispatch of this category goes to.
    pub responder_unit: &'static str,
    pub titles: [&'static str; 4],
}

static RUNZHOU_CATEGORIES: [CategoryProfile; 9] = [
    CategoryProfile {
        code: "environment",
        weight: 18,
        responder_unit: "sanitation-team",
        titles: [
            "Overflowing refuse bins",
            "Construction waste dumped on a verge",
            "Blocked drain and standing water",
            "Cooking fumes from a street restaurant",
        ],
    },
    CategoryProfile {
        code: "property-management",
        weight: 16,
        responder_unit: "property-company",
        titles: [
            "Lift out of service",
            "Leaking roof over a top-floor flat",
            "Dispute over parking spaces",
            "Broken entrance door lock",
        ],
    },
    CategoryProfile {
        code: "dispute",
        weight: 14,
        responder_unit: "mediation-committee",
        titles: [
            "Water leaking into the flat below",
            "Noise between neighbours at night",
            "Shared corridor occupied by belongings",
            "Vegetable plot dug in the greenbelt",
        ],
    },
    CategoryProfile {
        code: "municipal-facilities",
        weight: 12,
        responder_unit: "municipal-maintenance",
        titles: [
            "Street light out",
            "Broken paving slabs on the pavement",
            "Manhole cover missing",
            "Public toilet out of order",
        ],
    },
    CategoryProfile {
        code: "public-security",
        weight: 10,
        responder_unit: "police-liaison",
        titles: [
            "Gate access control broken",
            "Street vendors blocking the road",
            "Group renting in an overcrowded flat",
            "Bicycle thefts near the market",
        ],
    },
    CategoryProfile {
        code: "civil-affairs",
        weight: 8,
        responder_unit: "civil-affairs-office",
        titles: [
            "Help with a subsistence allowance application",
            "Disability subsidy enquiry",
            "Hardship relief for a family after illness",
            "Veteran household needs assistance",
        ],
    },
    CategoryProfile {
        code: "elderly-and-children",
        weight: 8,
        responder_unit: "elderly-care-service",
        titles: [
            "Elderly resident living alone needs regular visits",
            "Meal delivery for an elderly couple",
            "Playground equipment unsafe",
            "After-school care requested",
        ],
    },
    CategoryProfile {
        code: "work-safety",
        weight: 6,
        responder_unit: "work-safety-inspector",
        titles: [
            "Electric bikes charged in a stairwell",
            "Fire escape blocked in a shop",
            "Gas cylinders stored in a restaurant kitchen",
            "Unsafe scaffolding at a renovation",
        ],
    },
    CategoryProfile {
        code: "other",
        weight: 8,
        responder_unit: "community-office",
        titles: [
            "Stray dogs in the neighbourhood",
            "More benches requested along the path",
            "Notice board damaged",
            "Pigeon droppings on a walkway",
        ],
    },
];

/// Dantu: townships with farmland and industrial parks beside the town centre, so more
/// environment and work-safety reports and fewer about property companies than Runzhou.
static DANTU_CATEGORIES: [CategoryProfile; 9] = [
    CategoryProfile {
        code: "environment",
        weight: 20,
        responder_unit: "sanitation-team",
        titles: [
            "Straw burnt at the edge of a field",
            "Rubbish piled beside a village road",
            "Ditch blocked and overflowing",
            "Livestock smell from a smallholding",
        ],
    },
    CategoryProfile {
        code: "property-management",
        weight: 10,
        responder_unit: "property-company",
        titles: [
            "Water pump of a resettlement block broken",
            "Stairwell lights out",
            "Cars parked on the fire lane",
            "Entrance barrier stuck open",
        ],
    },
    CategoryProfile {
        code: "dispute",
        weight: 14,
        responder_unit: "mediation-committee",
        titles: [
            "Boundary of a contracted plot disputed",
            "Neighbour's extension blocks the light",
            "Irrigation water shared unfairly",
            "Wages owed to a seasonal worker",
        ],
    },
    CategoryProfile {
        code: "municipal-facilities",
        weight: 12,
        responder_unit: "municipal-maintenance",
        titles: [
            "Potholes on the village road",
            "Bus shelter damaged",
            "Street light out at the crossroads",
            "Footbridge railing loose",
        ],
    },
    CategoryProfile {
        code: "public-security",
        weight: 9,
        responder_unit: "police-liaison",
        titles: [
            "Unlicensed tricycles carrying passengers",
            "Strangers selling door to door",
            "Security camera at the village gate broken",
            "Cable theft from a farm building",
        ],
    },
    CategoryProfile {
        code: "civil-affairs",
        weight: 8,
        responder_unit: "civil-affairs-office",
        titles: [
            "Rural subsistence allowance enquiry",
            "Help applying for a disability card",
            "Family in hardship after a house fire",
            "Left-behind household needs support",
        ],
    },
    CategoryProfile {
        code: "elderly-and-children",
        weight: 10,
        responder_unit: "elderly-care-service",
        titles: [
            "Elderly villager living alone needs visits",
            "Day-care centre meals requested",
            "Children swimming in the pond unsupervised",
            "School bus stop without a crossing guard",
        ],
    },
    CategoryProfile {
        code: "work-safety",
        weight: 9,
        responder_unit: "work-safety-inspector",
        titles: [
            "Workshop storing solvents in a dwelling",
            "Electric bikes charged in a corridor",
            "Fire extinguishers missing in a factory dormitory",
            "Fireworks stored in a village shop",
        ],
    },
    CategoryProfile {
        code: "other",
        weight: 8,
        responder_unit: "community-office",
        titles: [
            "Stray dogs near the school",
            "Village notice board out of date",
            "Fitness equipment requested for the square",
            "Signpost to the clinic missing",
        ],
    },
];

pub const COMMITTEE_DEPARTMENTS: [&str; 8] = [
    "housing-and-construction-bureau",
    "urban-management-bureau",
    "civil-affairs-bureau",
    "public-security-bureau",
    "emergency-management-bureau",
    "ecology-and-environment-bureau",
    "market-regulation-bureau",
    "transport-bureau",
];

pub const MEETING_PARTIES: [&str; 6] = [
    "resident representatives",
    "community party committee",
    "neighbourhood committee",
    "property company",
    "owners' committee",
    "grid workers",
];
