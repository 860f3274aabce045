package web

import (
	"github.com/sesame-edu/sesame/server/i18n"
	"github.com/sesame-edu/sesame/server/refusal"
)

// words turns the refusals of one form into messages, field by field. It
// is the one table from the domain's reasons to words: scope names the form
// ("profile", "recovery", "activation"), so that each may word a reason its
// own way (« le mot de passe actuel » on the personal page, « le mot de
// passe provisoire » in activation).
func words(t *i18n.Localizer, scope string, l refusal.List) map[string]string {
	if len(l) == 0 {
		return nil
	}
	out := make(map[string]string, len(l))
	for _, r := range l {
		out[r.Field] = word(t, scope, r)
	}
	return out
}

// word is one refusal's message.
func word(t *i18n.Localizer, scope string, r refusal.Refusal) string {
	switch r.Reason {
	case refusal.Throttled:
		if scope == "desk" && r.Field == "code" {
			// A code for the person: the agent is told about the person's
			// account, not their own (their own password's throttle keeps
			// the sign-in's words).
			return waitMessageIn(t, "desk.err_wait", r.Wait.Seconds())
		}
		return waitMessage(t, r.Wait.Seconds())
	case refusal.Budget:
		return t.T(scope + ".err_mail_budget")
	}
	return t.T(refusalKey(scope, r))
}

// refusalKey is the message key of a refusal: the form's scope, then the
// field and reason, in the catalogue's naming (profile.err_email, …).
func refusalKey(scope string, r refusal.Refusal) string {
	switch scope + "/" + r.Field + "/" + string(r.Reason) {
	case "profile/email/invalid", "recovery/input/invalid", "activation/email/invalid":
		return scope + ".err_email"
	case "profile/phone/invalid":
		return "profile.err_phone"
	case "profile/email/too_long", "profile/phone/too_long":
		return "profile.err_too_long"
	case "profile/current/wrong", "children/current/wrong":
		return scope + ".err_current"
	case "profile/current/missing", "children/current/missing":
		return scope + ".err_current_needed"
	case "recovery/input/missing":
		return "recovery.err_input"
	case "recovery/consent/missing":
		return "recovery.err_consent"
	case "recovery/account/choose":
		return "recovery.err_choose"
	case "recovery/password/rules":
		return "recovery.err_password_rules"
	case "activation/accept/missing":
		return "activation.err_charter"
	case "activation/choice/missing":
		return "activation.err_choice"
	case "activation/to/invalid":
		return "activation.err_redirect_email"
	case "activation/to/loop":
		return "activation.err_redirect_loop"
	case "desk/email/invalid", "desk/email/too_long":
		return "desk.err_email"
	case "desk/email/missing":
		return "desk.err_email_missing"
	case "desk/email/same":
		return "desk.err_email_same"
	case "desk/current/wrong":
		return "desk.err_current"
	case "desk/current/missing":
		return "desk.err_current_needed"
	case "desk/population/invalid":
		return "desk.err_population"
	}
	// Rules, Mismatch, Same and the others are worded per form alone
	// (TestEveryRefusalHasWords checks each has its message).
	return scope + ".err_" + string(r.Reason)
}
