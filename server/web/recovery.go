package web

import (
	"encoding/base64"
	"errors"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/frontend/views"
	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/policy"
	"github.com/sesame-edu/sesame/server/recovery"
	"github.com/sesame-edu/sesame/server/school"
)

// recoveryCookie holds "flowID.token": the flow's id and the secret whose
// hash binds the flow to this browser.
const recoveryCookie = "sesame_recovery"

// recoveryForm is every field the recovery forms post.
type recoveryForm struct {
	Kind       string `form:"kind" validate:"omitempty,oneof=password identifier"`
	Population string `form:"population" validate:"max=32"`
	Input      string `form:"input" validate:"max=254"`
	Consent    string `form:"consent" validate:"omitempty,eq=yes"`
	Flow       string `form:"flow" validate:"max=64"`
	Code       string `form:"code" validate:"max=64"`
	Account    string `form:"account" validate:"max=64"`
	Password   string `form:"password" validate:"max=4096"`
	Confirm    string `form:"confirm" validate:"max=4096"`
}

func (s *Server) parseRecovery(c *fiber.Ctx) (recoveryForm, error) {
	var f recoveryForm
	if err := c.BodyParser(&f); err != nil {
		return f, fiber.ErrBadRequest
	}
	if err := s.validate.Struct(f); err != nil {
		return f, fiber.NewError(fiber.StatusBadRequest, "recovery: malformed form")
	}
	if f.Kind == "" {
		f.Kind = string(recovery.KindPassword)
	}
	return f, nil
}

// setRecoveryCookie binds the flow to this browser for the flow's life.
func (s *Server) setRecoveryCookie(c *fiber.Ctx, f recovery.Flow, token string) {
	c.Cookie(&fiber.Cookie{
		Name: s.cookieName(recoveryCookie), Value: f.ID + "." + token, Path: "/",
		Expires: f.ExpiresAt, HTTPOnly: true, Secure: s.secure, SameSite: fiber.CookieSameSiteLaxMode,
	})
}

func (s *Server) clearRecoveryCookie(c *fiber.Ctx) {
	s.clearCookie(c, s.cookieName(recoveryCookie))
	s.clearCookie(c, s.cookieName(recoveryInputCookie))
}

// recoveryInputCookie holds "flowID.base64(what was typed at step 1)", so
// that step 2 shows it with « Modifier »: a typo in an address otherwise
// leaves the person waiting for a mail that went nowhere. It stays in the
// browser that typed it; the server erases its own copy once looked up.
const recoveryInputCookie = "sesame_recovery_input"

func (s *Server) setRecoveryInput(c *fiber.Ctx, f recovery.Flow, input string) {
	c.Cookie(&fiber.Cookie{
		Name: s.cookieName(recoveryInputCookie), Value: f.ID + "." + base64.RawURLEncoding.EncodeToString([]byte(input)), Path: "/",
		Expires: f.ExpiresAt, HTTPOnly: true, Secure: s.secure, SameSite: fiber.CookieSameSiteLaxMode,
	})
}

// recoveryInput returns what this browser typed at step 1 of flow id.
func (s *Server) recoveryInput(c *fiber.Ctx, id string) string {
	fid, enc, ok := strings.Cut(c.Cookies(s.cookieName(recoveryInputCookie)), ".")
	if !ok || fid != id {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(b) > 1024 {
		return ""
	}
	// Bytes that are not text are shown as « � », never dropped: the page
	// looks the same whatever was typed.
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// currentFlow returns the browser's live flow, if any.
func (s *Server) currentFlow(c *fiber.Ctx) (recovery.Flow, bool, error) {
	id, token, ok := strings.Cut(c.Cookies(s.cookieName(recoveryCookie)), ".")
	if !ok || len(id) > 64 || len(token) > 128 {
		return recovery.Flow{}, false, nil
	}
	f, err := s.recovery.Load(c.UserContext(), id, token)
	if errors.Is(err, recovery.ErrNotFound) {
		return recovery.Flow{}, false, nil
	}
	if err != nil {
		return recovery.Flow{}, false, err
	}
	return f, true, nil
}

// population resolves the population of a form or link: with one
// population there is nothing to choose.
func (s *Server) population(key string) (*school.Population, bool) {
	if !s.school.NeedsChooser() {
		return &s.school.Populations[0], true
	}
	p, ok := s.school.Population(key)
	return p, ok
}

// baseRecovery fills what every step shows: the help desk of the person's
// population, with whether it is open now.
func (s *Server) baseRecovery(c *fiber.Ctx, kind recovery.Kind, pop *school.Population) views.RecoveryProps {
	t := s.t(c)
	csrf, _ := c.Locals(localCSRF).(string)
	p := views.RecoveryProps{T: t, CSRF: csrf, Kind: string(kind), HelpURL: "/help",
		CodeMinutes: int(s.recovery.Config().CodeTTL / time.Minute), PrivacyURL: s.privacyURL()}
	contact := s.school.Support
	if pop != nil {
		p.Population, p.Guardians = pop.Key, pop.Guardians
		if s.school.NeedsChooser() {
			p.PopulationLabel = school.Text(pop.Label, t.Lang())
			p.HelpURL = "/help/" + pop.Key
		}
		contact = *pop.Help
	}
	now := s.now().In(s.loc)
	p.HelpStatus = s.statusLine(t, contact.Hours.Status(now, s.loc), now)
	return p
}

// renderRecovery answers HTMX with the step alone (swapped inside the
// dialog) and other browsers with a whole page. Pages of the flow carry
// codes in their URL or fields: no Referer may leak them.
func (s *Server) renderRecovery(c *fiber.Ctx, status int, p views.RecoveryProps) error {
	c.Set("Referrer-Policy", "no-referrer")
	if isHTMX(c) {
		// A refused form is an answer to show, not a failed request: HTMX
		// gets 200, so the browser logs no error. Plain forms keep the
		// precise status (422, 429).
		return render(c, fiber.StatusOK, views.RecoveryStep(s.withLanguages(c, p, "")))
	}
	// A whole page has the switch of its header, and the step's heading
	// is its h1.
	p.Languages, p.Page = nil, true
	return render(c, status, views.RecoveryPage(s.page(c, p.Title()), p))
}

// recoveryStart is GET /recovery and /recovery/identifier: the current step
// of this browser's flow, or the start: the chooser when the school has
// several populations, else step 1.
func (s *Server) recoveryStart(kind recovery.Kind) fiber.Handler {
	return func(c *fiber.Ctx) error {
		fl := s.takeFlash(c)
		if fl.Step == string(recovery.StepDone) && fl.Kind == string(kind) {
			// The request is over and its flow gone: the flash says how.
			// Only on its own page: the end of a forgotten-identifier
			// request is no « mot de passe modifié ».
			pop, _ := s.population(fl.Population)
			return s.renderRecovery(c, fiber.StatusOK, s.finished(c, kind, pop, fl.Identifier))
		}
		if f, ok, err := s.currentFlow(c); err != nil {
			return err
		} else if ok && f.Kind == kind && kind == recovery.KindPassword {
			p := s.stepOf(c, f, "")
			p.Notice = s.flashNotice(c, fl)
			return s.renderRecovery(c, fiber.StatusOK, p)
		}
		return s.renderRecovery(c, fiber.StatusOK, s.startProps(c, kind, fl))
	}
}

// startProps is the first step of a request not yet made: the chooser, or
// step 1 of the population in the link (or the flash).
func (s *Server) startProps(c *fiber.Ctx, kind recovery.Kind, fl flash) views.RecoveryProps {
	pop, ok := s.population(c.Query("population"))
	if !ok {
		pop, ok = s.population(fl.Population)
	}
	if !ok {
		return s.chooser(c, kind)
	}
	p := s.baseRecovery(c, kind, pop)
	p.Step = string(recovery.StepRequest)
	p.Input = c.Query("identifier")
	if fl.Input != "" {
		p.Input = fl.Input
	}
	return p
}

// withLanguages gives the dialog its own language switch: while it is
// open the page's switch cannot be reached. Each link comes back to the
// login page with the dialog open where it was (next), in the other
// language; by default the step's own way back: the flow in progress (the
// cookie finds it), else the start of the same request and population.
func (s *Server) withLanguages(c *fiber.Ctx, p views.RecoveryProps, next string) views.RecoveryProps {
	if next == "" {
		next = paths.Home
		switch p.Step {
		case string(recovery.StepDone), string(recovery.StepDeadEnd):
			// Over: the sign-in page, in the other language.
		default:
			next += "?recovery=" + url.QueryEscape(p.Kind)
			if p.Population != "" && p.Step != string(recovery.StepChoose) && s.school.NeedsChooser() {
				next += "&population=" + url.QueryEscape(p.Population)
			}
		}
	}
	p.Languages = nil
	for _, l := range s.page(c, "").Languages {
		l.Href = paths.Language + l.Code + "?next=" + url.QueryEscape(next)
		p.Languages = append(p.Languages, l)
	}
	return p
}

// flashNotice words a notice left by the POST before the redirect; only
// the notices below can be shown.
func (s *Server) flashNotice(c *fiber.Ctx, fl flash) string {
	t := s.t(c)
	switch fl.Notice {
	case "recovery.sent_notice", "recovery.resent":
		return t.T(fl.Notice)
	case "recovery.resend_wait":
		return t.T(fl.Notice, "Seconds", fl.Seconds, "Count", fl.Seconds)
	}
	return ""
}

// finished is the last step: the password is set, or the identifiers
// mailed.
func (s *Server) finished(c *fiber.Ctx, kind recovery.Kind, pop *school.Population, identifier string) views.RecoveryProps {
	t := s.t(c)
	p := s.baseRecovery(c, kind, pop)
	p.Step = string(recovery.StepDone)
	if kind == recovery.KindIdentifier {
		p.Message, p.Heading = t.T("recovery.identifier_sent"), t.T("recovery.sent_title")
		return p
	}
	p.Message, p.Identifier = t.T("recovery.done", "Identifier", identifier), identifier
	return p
}

// answerStep answers an accepted step: HTMX swaps in the next step, a
// plain form is redirected to the page showing it (POST/Redirect/GET),
// with what the step has to say kept in the flash.
func (s *Server) answerStep(c *fiber.Ctx, p views.RecoveryProps, fl flash) error {
	target := paths.Recovery
	if p.Kind == string(recovery.KindIdentifier) {
		target = paths.RecoveryIdentifier
	}
	return s.answerStepAt(c, p, fl, target)
}

// answerStepAt is answerStep to another page: the mail's link, for a
// device that holds no cookie of the flow.
func (s *Server) answerStepAt(c *fiber.Ctx, p views.RecoveryProps, fl flash, target string) error {
	if isHTMX(c) {
		return s.renderRecovery(c, fiber.StatusOK, p)
	}
	c.Set("Referrer-Policy", "no-referrer")
	return s.redirectAfterPost(c, target, fl)
}

// chooser routes each population to its own rules.
func (s *Server) chooser(c *fiber.Ctx, kind recovery.Kind) views.RecoveryProps {
	t := s.t(c)
	p := s.baseRecovery(c, kind, nil)
	p.Step = string(recovery.StepChoose)
	path := paths.Recovery
	if kind == recovery.KindIdentifier {
		path = paths.RecoveryIdentifier
	}
	p.Chooser = views.ChooserProps{Lead: t.T("chooser.lead"),
		Support: views.Choice{Href: "/help", Label: t.T("chooser.support"), Description: t.T("chooser.support_desc")}}
	for _, pop := range s.school.Populations {
		p.Chooser.Choices = append(p.Chooser.Choices, views.Choice{
			Href:        path + "?population=" + url.QueryEscape(pop.Key),
			Label:       school.Text(pop.Label, t.Lang()),
			Description: school.Text(pop.Description, t.Lang()),
		})
	}
	return p
}

// stepOf renders the step a live flow is at, as this browser sees it.
func (s *Server) stepOf(c *fiber.Ctx, f recovery.Flow, code string) views.RecoveryProps {
	pop, _ := s.population(f.Population)
	if msg := s.elsewhere(c, f); msg != "" {
		return s.told(c, f.Kind, pop, msg)
	}
	p := s.baseRecovery(c, f.Kind, pop)
	p.FlowID = f.ID
	p.Step = string(f.Step())
	switch f.Step() {
	case recovery.StepPassword:
		s.fillPassword(c, &p, f, "")
	default:
		p.Code = code
		p.Sent = s.recoveryInput(c, f.ID)
	}
	return p
}

// elsewhere says what another device did with this request: it finished
// it, or it typed the code and alone may finish. Empty when neither.
func (s *Server) elsewhere(c *fiber.Ctx, f recovery.Flow) string {
	switch {
	case f.State == recovery.StateDone:
		// Said once: the request is over for this browser too.
		s.clearRecoveryCookie(c)
		if f.Holder != "" && f.Holder == f.VerifiedBy {
			// This browser finished it (a double click).
			return s.t(c).T("recovery.err_finished")
		}
		return s.t(c).T("recovery.done_elsewhere")
	case f.State == recovery.StateVerified && !f.VerifiedHere():
		return s.t(c).T("recovery.verified_elsewhere")
	}
	return ""
}

// told is the end of the dialog for this browser, with why.
func (s *Server) told(c *fiber.Ctx, kind recovery.Kind, pop *school.Population, msg string) views.RecoveryProps {
	p := s.baseRecovery(c, kind, pop)
	p.Step, p.Message, p.Heading = string(recovery.StepDone), msg, p.T.T("recovery.request_title")
	return p
}

// fillPassword shows the identifier (so password managers save the right
// pair), or the accounts of a shared address to choose from, and the
// checklist of the account's population.
func (s *Server) fillPassword(c *fiber.Ctx, p *views.RecoveryProps, f recovery.Flow, password string) {
	accs, err := s.recovery.Candidates(c.UserContext(), f)
	if err != nil {
		s.log.Error("recovery: candidates", "flow", f.ID, "err", err)
	}
	// Until an account is chosen, the flow's population's rules apply.
	pol := s.school.PolicyOf(f.Population)
	if p.Chosen == "" {
		p.Chosen = f.Chosen
	}
	var pc policy.Context
	for _, a := range accs {
		p.Choices = append(p.Choices, views.AccountChoice{ID: a.ID, Identifier: a.Identifier, Name: a.FullName()})
		if len(accs) == 1 || a.ID == p.Chosen {
			p.Identifier = a.Identifier
			pol = s.school.PolicyOf(a.Population)
			p.Population = a.Population
			// The same data the step evaluates the password with.
			pc = policy.Context{Identifier: a.Identifier, FirstName: a.FirstName, LastName: a.LastName}
		}
	}
	rules := pol.Rules()
	if password != "" {
		rules = pol.Evaluate(password, pc).Rules
	}
	p.Checklist = checklist(p.T, rules, password, "")
}

// recoveryRequest is step 1's submit.
func (s *Server) recoveryRequest(c *fiber.Ctx) error {
	f, err := s.parseRecovery(c)
	if err != nil {
		return err
	}
	kind := recovery.Kind(f.Kind)
	pop, ok := s.population(f.Population)
	if !ok {
		return s.renderRecovery(c, fiber.StatusOK, s.chooser(c, kind))
	}
	t := s.t(c)
	p := s.baseRecovery(c, kind, pop)
	p.Step, p.Input, p.Consent = string(recovery.StepRequest), strings.TrimSpace(f.Input), f.Consent == "yes"
	form := recovery.RequestForm{Kind: kind, Population: pop.Key, Input: p.Input, Lang: t.Lang(), IP: c.IP(), Consent: p.Consent,
		Device: recovery.DeviceOf(c.Get(fiber.HeaderUserAgent))}
	if cur, ok, err := s.currentFlow(c); err != nil {
		return err
	} else if ok {
		form.Current = cur
	}
	if refused := form.Validate(); len(refused) > 0 {
		p.Errors = words(t, "recovery", refused)
		return s.renderRecovery(c, fiber.StatusUnprocessableEntity, p)
	}
	flow, token, err := s.recovery.SubmitRequest(c.UserContext(), form)
	var rl *recovery.RateLimitedError
	if errors.As(err, &rl) {
		return s.rateLimited(c, p, rl.RetryAfter)
	}
	if err != nil {
		return err
	}
	// The same words whether or not an account matched.
	if kind == recovery.KindIdentifier {
		return s.answerStep(c, s.finished(c, kind, pop, ""), flash{Step: string(recovery.StepDone), Kind: string(kind), Population: pop.Key})
	}
	typed := p.Input
	if token != "" {
		// A new request; an empty token is this browser's request sent
		// again within the resend delay, which keeps its code.
		s.setRecoveryCookie(c, flow, token)
		s.setRecoveryInput(c, flow, typed)
	}
	p = s.stepOf(c, flow, "")
	p.Sent = strings.ToValidUTF8(typed, "\uFFFD")
	p.Notice = t.T("recovery.sent_notice")
	return s.answerStep(c, p, flash{Notice: "recovery.sent_notice"})
}

// rateLimited says how long to wait; it never locks an account.
func (s *Server) rateLimited(c *fiber.Ctx, p views.RecoveryProps, wait time.Duration) error {
	t := s.t(c)
	minutes := int(math.Ceil(wait.Minutes()))
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	p.Step, p.Waiting = string(recovery.StepDeadEnd), true
	p.Heading = t.T("recovery.request_title")
	if minutes <= 1 {
		p.Message = t.T("recovery.err_rate_one")
	} else {
		p.Message = t.T("recovery.err_rate", "Minutes", minutes)
	}
	return s.renderRecovery(c, fiber.StatusTooManyRequests, p)
}

// recoveryCodeLink is the link in the mail. Opening it (a GET, which mail
// scanners prefetch) changes nothing: it shows the login page with the
// dialog open at step 2 and the code filled in; only the submit counts.
func (s *Server) recoveryCodeLink(c *fiber.Ctx) error {
	c.Set("Referrer-Policy", "no-referrer")
	code := c.Query("code")
	if len(code) > 64 {
		code = ""
	}
	f, err := s.recovery.Get(c.UserContext(), c.Query("flow"))
	var p views.RecoveryProps
	switch {
	case errors.Is(err, recovery.ErrNotFound) || (err == nil && f.Kind != recovery.KindPassword):
		p = s.deadEnd(c, recovery.KindPassword, "", s.t(c).T("recovery.err_expired"))
	case err != nil:
		return err
	case f.State != recovery.StateCodeSent:
		// Already past the code, here or on another device: the browser
		// bound to the flow sees where it stands; one with only the link,
		// that another device has it.
		if cur, ok, _ := s.currentFlow(c); ok && cur.ID == f.ID {
			p = s.stepOf(c, cur, "")
		} else {
			p = s.stepOf(c, f, "")
		}
	default:
		p = s.stepOf(c, f, code)
		p.Notice = s.flashNotice(c, s.takeFlash(c))
	}
	// The mail's link is the way back here: a device that holds only the
	// link has no cookie for the flow to be found by.
	p = s.withLanguages(c, p, c.OriginalURL())
	if isHTMX(c) {
		return render(c, fiber.StatusOK, views.RecoveryStep(p))
	}
	// The page is titled as the step it shows, which the link's state
	// decides (the code, the new password, or the end).
	lp := views.LoginProps{Base: s.page(c, p.Title()), Step: views.RecoveryStep(p)}
	return render(c, fiber.StatusOK, views.Login(lp))
}

// deadEnd ends a request that can go no further, with the help desk of
// the person's population (its hours, not the support desk's) and
// « Recommencer » back to that population's step 1; popKey comes from the
// step's form, which outlives the flow.
func (s *Server) deadEnd(c *fiber.Ctx, kind recovery.Kind, popKey, msg string) views.RecoveryProps {
	var pop *school.Population
	if p, ok := s.school.Population(popKey); ok && popKey != "" {
		pop = p
	}
	p := s.baseRecovery(c, kind, pop)
	p.Step, p.Message = string(recovery.StepDeadEnd), msg
	p.Heading = p.T.T("recovery.request_title")
	return p
}

// flowForCode finds the flow a code is typed for: this browser's, or the
// one named by the mailed link when it was opened on another device.
func (s *Server) flowForCode(c *fiber.Ctx, id string) (recovery.Flow, error) {
	f, ok, err := s.currentFlow(c)
	if err != nil {
		return f, err
	}
	if !ok {
		if id == "" {
			return recovery.Flow{}, recovery.ErrNotFound
		}
		if f, err = s.recovery.Get(c.UserContext(), id); err != nil {
			return f, err
		}
	}
	if f.Kind != recovery.KindPassword {
		// An identifier reminder has no code.
		return recovery.Flow{}, recovery.ErrNotFound
	}
	return f, nil
}

// recoveryCode is step 2's submit.
func (s *Server) recoveryCode(c *fiber.Ctx) error {
	form, err := s.parseRecovery(c)
	if err != nil {
		return err
	}
	t := s.t(c)
	f, err := s.flowForCode(c, form.Flow)
	if err == nil && f.State != recovery.StateCodeSent {
		// Past the code, on this device or another: say where it stands.
		return s.renderRecovery(c, fiber.StatusOK, s.stepOf(c, f, ""))
	}
	if errors.Is(err, recovery.ErrNotFound) {
		s.clearRecoveryCookie(c)
		return s.renderRecovery(c, fiber.StatusOK, s.deadEnd(c, recovery.KindPassword, form.Population, t.T("recovery.err_expired")))
	}
	if err != nil {
		return err
	}
	res, err := s.recovery.SubmitCode(c.UserContext(), f, form.Code)
	f = res.Flow
	if errors.Is(err, recovery.ErrState) && f.State != recovery.StateCodeSent {
		// Another device typed the code a moment before.
		return s.renderRecovery(c, fiber.StatusOK, s.stepOf(c, f, ""))
	}
	if errors.Is(err, recovery.ErrState) || errors.Is(err, recovery.ErrNotFound) {
		s.clearRecoveryCookie(c)
		return s.renderRecovery(c, fiber.StatusOK, s.deadEnd(c, recovery.KindPassword, form.Population, t.T("recovery.err_expired")))
	}
	if errors.Is(err, recovery.ErrConflict) {
		// Many guesses at once on one flow: no try was lost; ask again.
		p := s.stepOf(c, f, form.Code)
		p.Errors = map[string]string{"code": t.T("recovery.err_busy")}
		return s.renderRecovery(c, fiber.StatusConflict, p)
	}
	if err != nil {
		return err
	}
	p := s.stepOf(c, f, form.Code)
	p.Errors = map[string]string{}
	switch res.Outcome {
	case recovery.CodeOK:
		s.setRecoveryCookie(c, f, res.Token)
		return s.answerStep(c, s.stepOf(c, f, ""), flash{})
	case recovery.CodeMalformed:
		p.Errors["code"] = t.T("recovery.err_code_format")
	case recovery.CodeWrong:
		p.Errors["code"] = t.T("recovery.err_code_wrong", "Count", res.Remaining)
	case recovery.CodeExpired:
		p.Errors["code"] = t.T("recovery.err_code_expired")
	case recovery.CodeReplaced:
		p.Errors["code"] = t.T("recovery.err_code_replaced")
	case recovery.CodeExhausted:
		s.clearRecoveryCookie(c)
		return s.renderRecovery(c, fiber.StatusOK, s.deadEnd(c, recovery.KindPassword, form.Population, t.T("recovery.err_exhausted")))
	}
	return s.renderRecovery(c, fiber.StatusUnprocessableEntity, p)
}

// recoveryResend is « Renvoyer le code », from the browser that asked or
// from the device where the mail's link was opened (the flow's id in the
// form): either may ask while the request lives. The code still goes only
// to the account's address.
func (s *Server) recoveryResend(c *fiber.Ctx) error {
	form, err := s.parseRecovery(c)
	if err != nil {
		return err
	}
	t := s.t(c)
	f, err := s.flowForCode(c, form.Flow)
	if err != nil && !errors.Is(err, recovery.ErrNotFound) {
		return err
	}
	if err == nil && f.State != recovery.StateCodeSent {
		return s.renderRecovery(c, fiber.StatusOK, s.stepOf(c, f, ""))
	}
	if err != nil {
		return s.renderRecovery(c, fiber.StatusOK, s.deadEnd(c, recovery.KindPassword, form.Population, t.T("recovery.err_expired")))
	}
	wait, err := s.recovery.Resend(c.UserContext(), f)
	var rl *recovery.RateLimitedError
	if errors.As(err, &rl) {
		return s.rateLimited(c, s.stepOf(c, f, ""), rl.RetryAfter)
	}
	if err != nil {
		return err
	}
	p := s.stepOf(c, f, "")
	target := paths.Recovery
	if f.Holder == "" {
		// The device of the mail's link: back to the link's page.
		target = paths.RecoveryCode + "?" + url.Values{"flow": {f.ID}}.Encode()
	}
	if wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		p.Notice = t.T("recovery.resend_wait", "Seconds", secs, "Count", secs)
		return s.answerStepAt(c, p, flash{Notice: "recovery.resend_wait", Seconds: secs}, target)
	}
	p.Notice = t.T("recovery.resent")
	return s.answerStepAt(c, p, flash{Notice: "recovery.resent"}, target)
}

// recoveryPassword is step 3's submit.
func (s *Server) recoveryPassword(c *fiber.Ctx) error {
	form, err := s.parseRecovery(c)
	if err != nil {
		return err
	}
	t := s.t(c)
	f, ok, err := s.currentFlow(c)
	if err != nil {
		return err
	}
	if !ok || !f.VerifiedHere() {
		if ok {
			return s.renderRecovery(c, fiber.StatusOK, s.stepOf(c, f, ""))
		}
		return s.renderRecovery(c, fiber.StatusOK, s.deadEnd(c, recovery.KindPassword, form.Population, t.T("recovery.err_expired")))
	}
	res, err := s.recovery.SubmitPassword(c.UserContext(), f, form.Account, form.Password, form.Confirm)
	if errors.Is(err, recovery.ErrElsewhere) {
		return s.renderRecovery(c, fiber.StatusOK, s.stepOf(c, f, ""))
	}
	if errors.Is(err, recovery.ErrFinished) {
		s.clearRecoveryCookie(c)
		return s.renderRecovery(c, fiber.StatusConflict, s.deadEnd(c, recovery.KindPassword, form.Population, t.T("recovery.err_finished")))
	}
	if errors.Is(err, recovery.ErrNotFound) || errors.Is(err, recovery.ErrState) {
		s.clearRecoveryCookie(c)
		return s.renderRecovery(c, fiber.StatusOK, s.deadEnd(c, recovery.KindPassword, form.Population, t.T("recovery.err_expired")))
	}
	if err != nil {
		return err
	}
	if len(res.Refusals) > 0 {
		// Nothing typed is lost except the passwords, which are never sent
		// back into a page: the chosen account stays chosen, the checklist
		// starts again with the empty fields, and every problem is shown at
		// once, the rules missed named in the message.
		pop, _ := s.population(f.Population)
		p := s.baseRecovery(c, recovery.KindPassword, pop)
		p.Step, p.FlowID, p.Chosen = string(recovery.StepPassword), f.ID, form.Account
		s.fillPassword(c, &p, f, "")
		p.Errors = passwordErrors(t, "recovery", res.Refusals, res.Rules)
		return s.renderRecovery(c, fiber.StatusUnprocessableEntity, p)
	}
	acc := res.Account
	s.clearRecoveryCookie(c)
	pop, _ := s.population(f.Population)
	return s.answerStep(c, s.finished(c, recovery.KindPassword, pop, acc.Identifier),
		flash{Step: string(recovery.StepDone), Kind: string(recovery.KindPassword), Population: f.Population, Identifier: acc.Identifier})
}

// recoveryCancel is « Fermer quand même »: the request and its data go.
func (s *Server) recoveryCancel(c *fiber.Ctx) error {
	if f, ok, err := s.currentFlow(c); err == nil && ok {
		if err := s.recovery.Cancel(c.UserContext(), f); err != nil {
			return err
		}
	}
	s.clearRecoveryCookie(c)
	return c.Redirect("/", fiber.StatusSeeOther)
}

// recoveryRestart starts over after a dead end.
func (s *Server) recoveryRestart(c *fiber.Ctx) error {
	form, err := s.parseRecovery(c)
	if err != nil {
		return err
	}
	if f, ok, err := s.currentFlow(c); err == nil && ok {
		_ = s.recovery.Cancel(c.UserContext(), f)
	}
	s.clearRecoveryCookie(c)
	kind := recovery.Kind(form.Kind)
	pop, ok := s.population(form.Population)
	if !ok {
		return s.renderRecovery(c, fiber.StatusOK, s.chooser(c, kind))
	}
	p := s.baseRecovery(c, kind, pop)
	p.Step = string(recovery.StepRequest)
	// « Modifier » at step 2 comes back with what was typed, to correct it.
	p.Input = strings.TrimSpace(form.Input)
	return s.answerStep(c, p, flash{Population: pop.Key, Input: p.Input})
}

// resumeStep is the step the login page reopens its dialog at, when this
// browser has a flow in progress (a reload, or coming back later).
// A link of the dialog's language switch (?recovery=…&population=…) opens
// it again at the start of the request it showed, when no flow is under way.
func (s *Server) resumeStep(c *fiber.Ctx) (templ.Component, error) {
	want := recovery.Kind(c.Query("recovery"))
	f, ok, err := s.currentFlow(c)
	if err != nil {
		// The store is down: say so, rather than silently drop the step.
		return nil, err
	}
	if ok && f.Kind == recovery.KindPassword && want != recovery.KindIdentifier {
		c.Set("Referrer-Policy", "no-referrer")
		return views.RecoveryStep(s.withLanguages(c, s.stepOf(c, f, ""), "")), nil
	}
	if want != recovery.KindPassword && want != recovery.KindIdentifier {
		return nil, nil
	}
	return views.RecoveryStep(s.withLanguages(c, s.startProps(c, want, flash{}), "")), nil
}
