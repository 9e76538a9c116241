//! The telephony service of the hotline: answers SIP calls, plays prompts,
//! hears DTMF, records messages and runs the 12348 menus.
//!
//! Not built yet: the crate exists so the workspace has its final shape. The
//! SIP, media and menu modules arrive with the telephony and call-flow issues.
