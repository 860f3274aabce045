package web

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/frontend/views"
	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/activation"
	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/policy"
	"github.com/sesame-edu/sesame/server/refusal"
)

// activationCookie holds "flowID.token" for the wizard.
const activationCookie = "sesame_activation"

type activationForm struct {
	Identifier string `form:"identifier" validate:"max=254"`
	Password   string `form:"password" validate:"max=4096"`
	Confirm    string `form:"confirm" validate:"max=4096"`
	Email      string `form:"email" validate:"max=1024"`
	Accept     string `form:"accept" validate:"omitempty,eq=yes"`
	Choice     string `form:"choice" validate:"omitempty,oneof=yes no"`
	Redirect   string `form:"redirect" validate:"omitempty,eq=yes"`
	To         string `form:"to" validate:"max=1024"`
	KeepCopy   string `form:"keep_copy" validate:"omitempty,eq=yes"`
	Flow       string `form:"flow" validate:"max=64"`
	Token      string `form:"token" validate:"max=128"`
}

func (s *Server) parseActivation(c *fiber.Ctx) (activationForm, error) {
	var f activationForm
	if err := c.BodyParser(&f); err != nil || s.validate.Struct(f) != nil {
		return f, fiber.ErrBadRequest
	}
	return f, nil
}

// currentActivation returns this browser's flow, if any.
func (s *Server) currentActivation(c *fiber.Ctx) (activation.Flow, bool, error) {
	id, token, ok := strings.Cut(c.Cookies(s.cookieName(activationCookie)), ".")
	if !ok || len(id) > 64 || len(token) > 128 {
		return activation.Flow{}, false, nil
	}
	f, err := s.activation.Load(c.UserContext(), id, token)
	if errors.Is(err, activation.ErrNotFound) {
		return activation.Flow{}, false, nil
	}
	return f, err == nil, err
}

// activationProps fills a step's page: title, progress, and what the step
// shows. The progress bar is the population's ordered list of steps.
func (s *Server) activationProps(c *fiber.Ctx, step activation.Step, acc *account.Account, f *activation.Flow) views.ActivationProps {
	t := s.t(c)
	hasMailbox := true
	if acc != nil {
		hasMailbox = s.activation.Population(acc.Population).MailboxDomain != ""
	}
	title := t.T("activation.title_" + string(step))
	p := views.ActivationProps{Base: s.page(c, title), Step: string(step)}
	for i, st := range activation.Steps(hasMailbox) {
		p.Labels = append(p.Labels, t.T("activation.title_"+string(st)+"_short"))
		if st == step {
			p.Position = i + 1
		}
	}
	if acc != nil {
		p.Identifier = acc.Identifier
		p.Population = acc.Population
	}
	if f != nil {
		p.RescueEmail, p.RedirectTo, p.KeepCopy = f.RescueEmail, f.RedirectTo, true
		if !f.LinkDeadline.IsZero() {
			p.Deadline = t.Clock(f.LinkDeadline.In(s.loc))
		}
	}
	return p
}

// fillStep fills a live flow's current step.
func (s *Server) fillStep(c *fiber.Ctx, f activation.Flow) (views.ActivationProps, error) {
	acc, err := s.activation.Account(c.UserContext(), f)
	if err != nil {
		return views.ActivationProps{}, err
	}
	t := s.t(c)
	p := s.activationProps(c, f.State.Step(), &acc, &f)
	switch f.State {
	case activation.StateRescueSent:
		p.Sent = true
	case activation.StateCharter:
		p.CharterTitle, p.CharterText, p.CharterURL = s.charterText(t.Lang())
	case activation.StateDirectory:
		// Without an institutional mailbox (elected officials), the
		// directory shows a name only: its text must not speak of an
		// address of the school that the person does not have.
		p.NoMailbox = s.activation.Population(acc.Population).MailboxDomain == ""
	case activation.StateRedirect, activation.StateRedirSent:
		pop := s.activation.Population(acc.Population)
		p.Mandatory = pop.RedirectMandate
		p.Mailbox = activation.LocalPart(pop.MailboxPattern, acc.FirstName, acc.LastName) + "@" + pop.MailboxDomain
		p.RedirectSent = f.State == activation.StateRedirSent
		if p.RedirectSent {
			p.KeepCopy = f.RedirectCopy
		}
		p.Redirect = f.RedirectTo != "" || p.Mandatory
		if p.RedirectTo == "" {
			// The rescue address is proposed, for an optional redirection
			// too (as the real service does): ticking the box is then
			// enough. Unticked, the address is ignored.
			p.RedirectTo = f.RescueEmail
		}
	case activation.StatePassword:
		p.Checklist = checklist(t, s.school.PolicyOf(acc.Population).Rules(), "", "")
	}
	return p, nil
}

// activationPage shows the current step, or step 1.
func (s *Server) activationPage(c *fiber.Ctx) error {
	if fl := s.takeFlash(c); fl.Step == string(activation.StepDone) && fl.Account != "" {
		// Just activated: the summary, once (the flash is signed).
		acc, err := s.activation.Account(c.UserContext(), activation.Flow{AccountID: fl.Account})
		if err == nil {
			return s.summary(c, acc)
		}
		if !errors.Is(err, account.ErrNotFound) {
			return err
		}
	}
	f, ok, err := s.currentActivation(c)
	if err != nil {
		return err
	}
	if ok {
		p, err := s.fillStep(c, f)
		if err != nil {
			return err
		}
		// « J'ai confirmé l'adresse, continuer » while the link is still
		// unopened: say so, rather than show the same page silently.
		p.NotConfirmed = c.Query("check") == "1" && (f.State == activation.StateRescueSent || f.State == activation.StateRedirSent)
		return render(c, fiber.StatusOK, views.Activation(p))
	}
	p := s.activationProps(c, activation.StepStart, nil, nil)
	if id := c.Query("identifier"); len(id) <= 64 {
		p.Identifier = id
	}
	return render(c, fiber.StatusOK, views.Activation(p))
}

// activationStep runs one step's submit: it loads the flow, refuses a step
// that is not the current one (nothing can be skipped), and renders the
// flow's step afterwards.
func (s *Server) activationStep(run activationRun) fiber.Handler {
	return s.activationStepThen(run, nil)
}

// activationRun carries out one step; refusals leave the flow unchanged.
type activationRun func(c *fiber.Ctx, f activation.Flow, form activationForm) (refusal.List, error)

// activationStepThen is activationStep with its own answer when the step
// is accepted (the last step shows the summary); nil shows the next step.
func (s *Server) activationStepThen(run activationRun, accepted func(c *fiber.Ctx) error) fiber.Handler {
	return func(c *fiber.Ctx) error {
		form, err := s.parseActivation(c)
		if err != nil {
			return err
		}
		f, ok, err := s.currentActivation(c)
		if err != nil {
			return err
		}
		if !ok {
			p := s.activationProps(c, activation.StepStart, nil, nil)
			p.Notice = s.t(c).T("activation.expired")
			return render(c, fiber.StatusOK, views.Activation(p))
		}
		refused, err := run(c, f, form)
		if errors.Is(err, activation.ErrState) {
			// A later (or earlier) step posted out of turn: show where the
			// flow really is; nothing was changed.
			p, err := s.fillStep(c, f)
			if err != nil {
				return err
			}
			p.Notice = s.t(c).T("activation.out_of_turn")
			return render(c, fiber.StatusConflict, views.Activation(p))
		}
		if err != nil {
			return err
		}
		if len(refused) == 0 && accepted != nil {
			return accepted(c)
		}
		if len(refused) == 0 {
			// POST/Redirect/GET: the page of the next step is a GET, so
			// that Back never asks to send the form again.
			return s.redirectAfterPost(c, paths.Activation, flash{})
		}
		// Refused: the same step again, with what was typed and why.
		p, err := s.fillStep(c, f)
		if err != nil {
			return err
		}
		p.Errors = words(s.t(c), "activation", refused)
		if form.To != "" {
			p.RedirectTo = form.To
		}
		if form.Email != "" {
			p.RescueEmail = form.Email
		}
		if _, pw := refused.Of("password"); pw {
			// As at recovery's step 3: the fields and the checklist start
			// again empty, the rules missed named in the message.
			acc, _ := s.activation.Account(c.UserContext(), f)
			pol := s.school.PolicyOf(acc.Population)
			rules := pol.Evaluate(form.Password, policy.Context{Identifier: acc.Identifier, FirstName: acc.FirstName, LastName: acc.LastName}).Rules
			p.Errors = passwordErrors(s.t(c), "activation", refused, rules)
		}
		return render(c, refusedStatus(refused), views.Activation(p))
	}
}

// activationStart is step 1: identifier and provisional password.
func (s *Server) activationStart(c *fiber.Ctx) error {
	form, err := s.parseActivation(c)
	if err != nil {
		return err
	}
	t := s.t(c)
	p := s.activationProps(c, activation.StepStart, nil, nil)
	p.Identifier = strings.TrimSpace(form.Identifier)
	if p.Identifier == "" || form.Password == "" {
		p.Errors = map[string]string{"form": t.T("activation.err_missing")}
		return render(c, fiber.StatusUnprocessableEntity, views.Activation(p))
	}
	res, err := s.activation.Start(c.UserContext(), p.Identifier, form.Password, t.Lang(), c.IP())
	if err != nil {
		return err
	}
	f, token, wait := res.Flow, res.Token, res.RetryAfter
	switch res.Outcome {
	case activation.Started:
		c.Cookie(&fiber.Cookie{Name: s.cookieName(activationCookie), Value: f.ID + "." + token, Path: "/", Expires: f.ExpiresAt,
			HTTPOnly: true, Secure: s.secure, SameSite: fiber.CookieSameSiteLaxMode})
		return s.redirectAfterPost(c, paths.Activation, flash{})
	case activation.Throttled:
		p.Errors = map[string]string{"form": waitMessage(t, wait.Seconds())}
		return render(c, fiber.StatusTooManyRequests, views.Activation(p))
	}
	// The same words whichever part was wrong.
	p.Errors = map[string]string{"form": t.T("activation.err_pair")}
	return render(c, fiber.StatusUnprocessableEntity, views.Activation(p))
}

func (s *Server) activationRescue(c *fiber.Ctx, f activation.Flow, form activationForm) (refusal.List, error) {
	if !account.ValidEmail(form.Email) {
		return refusal.List{}.Add("email", refusal.Invalid), nil
	}
	if err := s.activation.SetRescue(c.UserContext(), f, form.Email); errors.Is(err, activation.ErrMailBudget) {
		return refusal.List{}.Add("email", refusal.Budget), nil
	} else if err != nil {
		return nil, err
	}
	return nil, nil
}

func (s *Server) activationCharter(c *fiber.Ctx, f activation.Flow, form activationForm) (refusal.List, error) {
	if f.State == activation.StateCharter && form.Accept != "yes" {
		return refusal.List{}.Add("accept", refusal.Missing), nil
	}
	_, err := s.activation.AcceptCharter(c.UserContext(), f)
	return nil, err
}

func (s *Server) activationDirectory(c *fiber.Ctx, f activation.Flow, form activationForm) (refusal.List, error) {
	if f.State == activation.StateDirectory && form.Choice == "" {
		return refusal.List{}.Add("choice", refusal.Missing), nil
	}
	_, err := s.activation.ChooseDirectory(c.UserContext(), f, form.Choice == "yes")
	return nil, err
}

func (s *Server) activationRedirect(c *fiber.Ctx, f activation.Flow, form activationForm) (refusal.List, error) {
	_, refused, err := s.activation.SetRedirect(c.UserContext(), f, form.Redirect == "yes", form.To, form.KeepCopy == "yes")
	return refused, err
}

// activationPassword is the last step: refused, it shows the step again
// like the others; accepted, the summary.
func (s *Server) activationPassword(c *fiber.Ctx) error {
	var done activation.PasswordResult
	return s.activationStepThen(func(c *fiber.Ctx, f activation.Flow, form activationForm) (refusal.List, error) {
		res, err := s.activation.SetPassword(c.UserContext(), f, form.Password, form.Confirm)
		done = res
		return res.Refusals, err
	}, func(c *fiber.Ctx) error {
		s.clearCookie(c, s.cookieName(activationCookie))
		return s.redirectAfterPost(c, paths.Activation, flash{Step: string(activation.StepDone), Account: done.Account.ID})
	})(c)
}

// summary renders step 7.
func (s *Server) summary(c *fiber.Ctx, acc account.Account) error {
	t := s.t(c)
	s.clearCookie(c, s.cookieName(activationCookie))
	p := s.activationProps(c, activation.StepDone, &acc, nil)
	yesNo := func(b bool) string {
		if b {
			return t.T("activation.yes")
		}
		return t.T("activation.no")
	}
	p.Summary = []views.SummaryLine{
		{Label: t.T("activation.sum_identifier"), Value: acc.Identifier},
		{Label: t.T("activation.sum_rescue"), Value: acc.Email},
		{Label: t.T("activation.sum_charter"), Value: t.T("activation.sum_charter_value", "Version", acc.CharterVersion, "Date", s.longDate(t, acc.CharterAt.In(s.loc).Format(time.DateOnly)))},
		{Label: t.T("activation.sum_directory"), Value: yesNo(acc.Directory)},
	}
	if acc.Mailbox != "" {
		p.Summary = append(p.Summary, views.SummaryLine{Label: t.T("activation.sum_mailbox"), Value: acc.Mailbox})
		redirect := t.T("activation.sum_no_redirect")
		if acc.RedirectTo != "" {
			redirect = t.T("activation.sum_redirect", "Email", acc.RedirectTo, "Copy", yesNo(acc.RedirectCopy))
		}
		p.Summary = append(p.Summary, views.SummaryLine{Label: t.T("activation.sum_redirection"), Value: redirect})
	}
	p.Summary = append(p.Summary, views.SummaryLine{Label: t.T("activation.sum_where"), Value: s.base.String() + "/"})
	return render(c, fiber.StatusOK, views.Activation(p))
}

// activationConfirmPage is a verification link: a button, nothing changed.
func (s *Server) activationConfirmPage(c *fiber.Ctx) error {
	c.Set("Referrer-Policy", "no-referrer")
	t := s.t(c)
	p := views.ActivationConfirmProps{Base: s.page(c, t.T("activation.confirm_title")), Flow: c.Query("flow"), Token: c.Query("token")}
	p.Title = t.T("activation.confirm_title")
	if fl := s.takeFlash(c); fl.Step == "confirmed" {
		p.Done, p.Address = true, fl.Address
		return render(c, fiber.StatusOK, views.ActivationConfirm(p))
	}
	if len(p.Flow) <= 64 && len(p.Token) <= 128 {
		addr, _, err := s.activation.LinkInfo(c.UserContext(), p.Flow, p.Token)
		if err != nil && !errors.Is(err, activation.ErrNotFound) {
			return err
		}
		p.Valid, p.Address = err == nil, addr
	}
	return render(c, fiber.StatusOK, views.ActivationConfirm(p))
}

// activationConfirm applies a verification link on submit.
func (s *Server) activationConfirm(c *fiber.Ctx) error {
	c.Set("Referrer-Policy", "no-referrer")
	form, err := s.parseActivation(c)
	if err != nil {
		return err
	}
	t := s.t(c)
	p := views.ActivationConfirmProps{Base: s.page(c, t.T("activation.confirm_title"))}
	p.Title = t.T("activation.confirm_title")
	addr, _, err := s.activation.LinkInfo(c.UserContext(), form.Flow, form.Token)
	if err == nil {
		_, err = s.activation.Confirm(c.UserContext(), form.Flow, form.Token)
	}
	if errors.Is(err, activation.ErrNotFound) {
		return render(c, fiber.StatusOK, views.ActivationConfirm(p))
	}
	if err != nil {
		return err
	}
	return s.redirectAfterPost(c, paths.ActivationConfirm, flash{Step: "confirmed", Address: addr})
}

// activationRestart deletes the flow: back to step 1.
func (s *Server) activationRestart(c *fiber.Ctx) error {
	if f, ok, err := s.currentActivation(c); err == nil && ok {
		if err := s.activation.Restart(c.UserContext(), f); err != nil {
			return err
		}
	}
	s.clearCookie(c, s.cookieName(activationCookie))
	return c.Redirect(paths.Activation, fiber.StatusSeeOther)
}
