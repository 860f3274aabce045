package web

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/frontend/views"
	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/i18n"
	"github.com/sesame-edu/sesame/server/policy"
	"github.com/sesame-edu/sesame/server/recovery"
	"github.com/sesame-edu/sesame/server/refusal"
	"github.com/sesame-edu/sesame/server/school"
)

// checklist words a policy result for the live feedback. With an empty
// result (before typing) every rule shows as not yet met.
func checklist(t views.Translator, rules []policy.Rule, password, confirm string) views.ChecklistProps {
	p := views.ChecklistProps{T: t}
	met := 0
	for _, r := range rules {
		if password == "" && r.Key == policy.KeyMaxLength {
			// An empty field is not too long: only the rules still to meet
			// show a cross before typing.
			r.Met = true
		}
		p.Items = append(p.Items, views.CheckItem{Text: ruleText(t, r), Met: r.Met})
		if r.Met {
			met++
		}
	}
	if confirm != "" {
		p.Match = "no"
		if policy.Normalize(confirm) == policy.Normalize(password) {
			p.Match = "yes"
		}
	}
	p.Summary = t.T("policy.summary", "Met", met, "Total", len(rules))
	return p
}

// ruleText words one rule of a policy.
func ruleText(t views.Translator, r policy.Rule) string {
	if r.N > 0 {
		return t.T(r.Key, "N", r.N, "Count", r.N)
	}
	return t.T(r.Key)
}

// passwordErrors words the refusals of a new-password form. The password
// fields come back empty (a password is never sent back into a page), and
// so does the checklist, which must never show verdicts on a password no
// longer there: the message of a « rules » refusal therefore names the
// rules the typed password missed, every one of them.
func passwordErrors(t *i18n.Localizer, scope string, l refusal.List, rules []policy.Rule) map[string]string {
	out := words(t, scope, l)
	if r, ok := l.Of("password"); ok && r.Reason == refusal.Rules {
		var unmet []string
		for _, rule := range rules {
			if !rule.Met {
				unmet = append(unmet, ruleText(t, rule))
			}
		}
		if len(unmet) > 0 {
			out["password"] = t.T("policy.unmet", "Rules", strings.Join(unmet, " ; "))
		}
	}
	return out
}

// passwordForm is what the live checklist receives as the person types.
type passwordForm struct {
	Password   string `form:"password" validate:"max=4096"`
	Confirm    string `form:"confirm" validate:"max=4096"`
	Population string `form:"population" validate:"max=32"`
	Identifier string `form:"identifier" validate:"max=254"`
}

// checkPassword answers the HTMX request of a new-password field with the
// checklist of its population's policy. It only informs: the step that
// saves the password evaluates it again with the account's own data.
func (s *Server) checkPassword(c *fiber.Ctx) error {
	var f passwordForm
	if err := c.BodyParser(&f); err != nil || s.validate.Struct(f) != nil {
		return fiber.ErrBadRequest
	}
	res := s.school.PolicyOf(f.Population).Evaluate(f.Password, s.passwordContext(c, f.Identifier))
	return render(c, fiber.StatusOK, views.ChecklistUpdate(checklist(s.t(c), res.Rules, f.Password, f.Confirm)))
}

// passwordContext is what the rules compare a new password with, the same
// data the step that saves it uses: the identifier and, for an account this
// browser is entitled to see, its first and last names. Without the names
// the live check showed « différent du nom » met for a password the server
// then refused. Names come only from this browser's own session or flows
// (the signed-in person or their children, a recovery past its code, an
// activation past its provisional password), never from what was typed: a
// stranger must not learn a name by watching a rule turn green.
func (s *Server) passwordContext(c *fiber.Ctx, identifier string) policy.Context {
	pc := policy.Context{Identifier: identifier}
	ctx := c.UserContext()
	// Each source is read only until one holds the identifier: this answers
	// every few keystrokes.
	sources := []func() []account.Account{
		func() []account.Account {
			if _, acc, ok, err := s.signedIn(c); err == nil && ok {
				if matches(acc, identifier) {
					return []account.Account{acc}
				}
				children, _ := s.profile.Children(ctx, acc)
				return children
			}
			return nil
		},
		func() []account.Account {
			if f, ok, err := s.currentFlow(c); err == nil && ok && f.State == recovery.StateVerified {
				accs, _ := s.recovery.Candidates(ctx, f)
				return accs
			}
			return nil
		},
		func() []account.Account {
			if f, ok, err := s.currentActivation(c); err == nil && ok {
				if acc, err := s.activation.Account(ctx, f); err == nil {
					return []account.Account{acc}
				}
			}
			return nil
		},
	}
	for _, source := range sources {
		for _, a := range source() {
			if matches(a, identifier) {
				pc.FirstName, pc.LastName = a.FirstName, a.LastName
				return pc
			}
		}
	}
	return pc
}

// matches tells whether an account is the one an identifier names.
func matches(a account.Account, identifier string) bool {
	return account.NormaliseIdentifier(a.Identifier) == account.NormaliseIdentifier(identifier)
}

// passwordPolicy is « Consulter notre politique de sécurité des mots de
// passe »: a population's rules and why they are what they are, at
// /password/policy/:population (linked from every new-password form), or
// every population's at /password/policy.
func (s *Server) passwordPolicy(c *fiber.Ctx) error {
	t := s.t(c)
	pops := s.school.Populations
	if key := c.Params("population"); key != "" {
		p, ok := s.school.Population(key)
		if !ok {
			return fiber.ErrNotFound
		}
		pops = []school.Population{*p}
	}
	title := t.T("policy_page.title")
	p := views.PasswordPolicyProps{Base: s.page(c, title), Heading: title}
	for _, pop := range pops {
		sec := views.PolicySection{}
		if s.school.NeedsChooser() {
			sec.Label = pop.NameText(t.Lang())
		}
		for _, r := range pop.Policy.Rules() {
			sec.Rules = append(sec.Rules, ruleText(t, r))
		}
		_, sec.Weak = pop.Policy.Weakness()
		p.Sections = append(p.Sections, sec)
	}
	return render(c, fiber.StatusOK, views.PasswordPolicy(p))
}
