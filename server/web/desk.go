package web

import (
	"bytes"
	"errors"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/frontend/views"
	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/desk"
	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/refusal"
	"github.com/sesame-edu/sesame/server/school"
	"github.com/sesame-edu/sesame/server/session"
)

// localAgent holds the console agent's account, set by deskGuard.
const localAgent = "deskAgent"

// deskGuard lets only the school's desk accounts into /desk: everyone
// else, signed in or not, gets « page introuvable », as for a page that
// does not exist. A console session idle for 15 minutes ends: the agent
// signs in again.
func (s *Server) deskGuard(c *fiber.Ctx) error {
	if s.desk == nil {
		return fiber.ErrNotFound
	}
	token := c.Cookies(s.sessionCookie())
	sess, err := s.sessions.ResolveIdle(c.UserContext(), token, desk.IdleTimeout)
	idle := errors.Is(err, session.ErrIdle)
	switch {
	case errors.Is(err, session.ErrNotFound):
		return fiber.ErrNotFound
	case err != nil && !idle:
		return err
	}
	acc, err := s.accounts.GetAccount(c.UserContext(), sess.AccountID)
	if errors.Is(err, account.ErrNotFound) {
		return fiber.ErrNotFound
	}
	if err != nil {
		return err
	}
	if s.desk.Agent(acc) == desk.None {
		return fiber.ErrNotFound
	}
	if idle {
		_ = s.sessions.End(c.UserContext(), token)
		s.clearSession(c)
		return c.Redirect(paths.Home, fiber.StatusSeeOther)
	}
	c.Locals(localAgent, acc)
	// No page of the console may be kept by a browser or sent as a
	// referrer: it names people and their addresses.
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	return c.Next()
}

func agentOf(c *fiber.Ctx) account.Account {
	acc, _ := c.Locals(localAgent).(account.Account)
	return acc
}

// deskAnswer turns the console's errors into answers: a person the agent
// may not see is a page that does not exist; one they may not act on is
// refused.
func deskAnswer(err error) error {
	switch {
	case errors.Is(err, desk.ErrNotFound):
		return fiber.ErrNotFound
	case errors.Is(err, desk.ErrForbidden):
		return fiber.ErrForbidden
	}
	return err
}

// deskPage is the console's home: the search.
func (s *Server) deskPage(c *fiber.Ctx) error {
	agent := agentOf(c)
	t := s.t(c)
	q := c.Query("q")
	p := views.DeskSearchProps{Base: s.page(c, t.T("desk.search_title")), Agent: agent.Identifier, Role: string(s.desk.Agent(agent)), Query: q}
	if q != "" {
		found, err := s.desk.Search(c.UserContext(), agent, q)
		if err != nil {
			return deskAnswer(err)
		}
		p.Searched = true
		for _, a := range found {
			p.Results = append(p.Results, views.DeskPersonRow{Href: paths.DeskPerson + url.PathEscape(a.ID),
				Identifier: a.Identifier, Name: a.FullName(), Population: s.populationLabel(t.Lang(), a.Population),
				Status: t.T("desk.status_" + string(a.Status)), Email: desk.MaskEmail(a.Email)})
		}
	}
	return render(c, fiber.StatusOK, views.DeskSearch(p))
}

func (s *Server) populationLabel(lang, key string) string {
	if p, ok := s.school.Population(key); ok && p.Key != school.DefaultPopulation {
		return p.NameText(lang)
	}
	return key
}

// deskPerson shows one person.
func (s *Server) deskPerson(c *fiber.Ctx) error {
	return s.renderPerson(c, fiber.StatusOK, "", nil, "")
}

// renderPerson draws a person's page, after an action with its notice or
// refusals.
func (s *Server) renderPerson(c *fiber.Ctx, status int, notice string, errs map[string]string, formEmail string) error {
	agent := agentOf(c)
	t := s.t(c)
	p, err := s.desk.Person(c.UserContext(), agent, c.Params("id"))
	if err != nil {
		return deskAnswer(err)
	}
	a := p.Account
	id := url.PathEscape(a.ID)
	when := func(at time.Time) string {
		if at.IsZero() {
			return t.T("desk.never")
		}
		l := at.In(s.loc)
		return s.longDate(t, l.Format(time.DateOnly)) + " " + t.Clock(l)
	}
	email := p.Email
	if email == "" {
		email = t.T("desk.no_email")
	}
	if p.PendingEmail != "" {
		email += " " + t.T("desk.pending_email", "Email", p.PendingEmail)
	}
	status2 := t.T("desk.status_" + string(a.Status))
	if a.Status == account.StatusPending && !a.ProvisionalUntil.IsZero() {
		key := "desk.letter_valid_until"
		if a.ProvisionalExpired(s.now()) {
			key = "desk.letter_expired"
		}
		status2 += " · " + t.T(key, "Date", when(a.ProvisionalUntil))
	}
	blocks := t.T("desk.no_blocks")
	if len(p.Blocks) > 0 {
		blocks = ""
		for i, b := range p.Blocks {
			if i > 0 {
				blocks += " ; "
			}
			key := "desk.block_account"
			if b.Source {
				key = "desk.block_source"
			}
			blocks += t.T(key, "Time", when(b.Until))
		}
	}
	activation := t.T("desk.activation_none")
	switch {
	case a.Status == account.StatusActive && a.ActivatedAt.IsZero():
		// Imported with a password of its own: there was no activation.
		activation = t.T("desk.activation_imported")
	case a.Status == account.StatusActive:
		activation = t.T("desk.activation_done", "Date", when(a.ActivatedAt))
	case p.Activation != "":
		activation = t.T("desk.activation_at", "Step", t.T("desk.step_"+string(p.Activation)), "Date", when(p.ActivationSince))
	}
	props := views.DeskPersonProps{
		Base: s.page(c, a.FullName()), Agent: agent.Identifier, Role: string(s.desk.Agent(agent)),
		Name: a.FullName(), Identifier: a.Identifier, MayAct: p.MayAct, HasBlocks: len(p.Blocks) > 0,
		Facts: []views.DeskFact{
			{Label: t.T("desk.population"), Value: s.populationLabel(t.Lang(), a.Population), TestID: "desk-population"},
			{Label: t.T("desk.status"), Value: status2, TestID: "desk-status"},
			{Label: t.T("desk.email"), Value: email, TestID: "desk-email"},
			{Label: t.T("desk.last_signin"), Value: when(p.LastSignIn), TestID: "desk-last-signin"},
			{Label: t.T("desk.blocks"), Value: blocks, TestID: "desk-blocks"},
			{Label: t.T("desk.activation"), Value: activation, TestID: "desk-activation"},
		},
		SendCode: paths.DeskSendCode + id, Email: paths.DeskEmail + id, Lift: paths.DeskLift + id,
		EndSessions: paths.DeskEndSessions + id, Letter: paths.DeskLetter + id,
		Notice: notice, Errors: errs, FormEmail: formEmail,
	}
	if p.Role != desk.None {
		props.Facts = append(props.Facts, views.DeskFact{Label: t.T("desk.role"), Value: t.T("desk.role_" + string(p.Role)), TestID: "desk-role"})
	}
	for _, r := range p.Requests {
		props.Requests = append(props.Requests, views.DeskFact{Label: when(r.At), Value: t.T("desk.request_" + r.Outcome)})
	}
	for _, h := range p.History {
		props.History = append(props.History, views.DeskHistoryRow{When: when(h.At), What: t.T("desk.action_" + h.Action),
			Outcome: h.Outcome, Who: h.Actor, Where: h.IP})
	}
	return render(c, status, views.DeskPerson(props))
}

// deskAfter answers an action: its refusals on the person's page (422),
// or the page again with what was done.
func (s *Server) deskAfter(c *fiber.Ctx, l refusal.List, err error, done, formEmail string) error {
	t := s.t(c)
	if errors.Is(err, desk.ErrForbidden) {
		return s.renderPerson(c, fiber.StatusForbidden, "", map[string]string{"form": t.T("desk.forbidden")}, "")
	}
	if err != nil {
		return deskAnswer(err)
	}
	if len(l) > 0 {
		return s.renderPerson(c, fiber.StatusUnprocessableEntity, "", words(t, "desk", l), formEmail)
	}
	return s.renderPerson(c, fiber.StatusOK, t.T(done), nil, "")
}

// deskSendCode sends a recovery code to the address on file.
func (s *Server) deskSendCode(c *fiber.Ctx) error {
	l, err := s.desk.SendCode(c.UserContext(), agentOf(c), c.Params("id"), s.t(c).Lang(), c.IP())
	return s.deskAfter(c, l, err, "desk.send_code_done", "")
}

type deskEmailForm struct {
	Email string `form:"email" validate:"max=320"`
}

// deskEmail mails a confirmation link to a corrected address.
func (s *Server) deskEmail(c *fiber.Ctx) error {
	var f deskEmailForm
	if err := c.BodyParser(&f); err != nil || s.validate.Struct(f) != nil {
		return fiber.ErrBadRequest
	}
	l, err := s.desk.CorrectEmail(c.UserContext(), agentOf(c), c.Params("id"), f.Email, s.t(c).Lang(), c.IP())
	return s.deskAfter(c, l, err, "desk.email_done", f.Email)
}

// deskLift lifts the person's password throttles.
func (s *Server) deskLift(c *fiber.Ctx) error {
	err := s.desk.Lift(c.UserContext(), agentOf(c), c.Params("id"), c.IP())
	return s.deskAfter(c, nil, err, "desk.lift_done", "")
}

// deskEndSessions signs the person out everywhere.
func (s *Server) deskEndSessions(c *fiber.Ctx) error {
	err := s.desk.EndSessions(c.UserContext(), agentOf(c), c.Params("id"), c.IP())
	return s.deskAfter(c, nil, err, "desk.end_sessions_done", "")
}

type deskCurrentForm struct {
	Current    string `form:"current" validate:"max=1024"`
	Population string `form:"population" validate:"max=64"`
}

// deskLetter issues a new provisional password and answers its letter as
// a PDF download. The password exists in clear only in that response.
func (s *Server) deskLetter(c *fiber.Ctx) error {
	var f deskCurrentForm
	if err := c.BodyParser(&f); err != nil || s.validate.Struct(f) != nil {
		return fiber.ErrBadRequest
	}
	letter, l, err := s.desk.IssueLetter(c.UserContext(), agentOf(c), c.Params("id"), f.Current, c.IP())
	if letter.Password == "" {
		return s.deskAfter(c, l, err, "", "")
	}
	// The new password is stored: whatever failed after it, the letter is
	// the only way into the account and must reach the agent.
	if err != nil {
		s.log.Error("desk: letter issued, a later step failed", "account", letter.Account.ID, "err", err)
	}
	return s.sendLetters(c, "lettre-"+letter.Account.ID+".pdf", []desk.Letter{letter}, 0)
}

// sendLetters writes letters as a PDF download that no cache keeps;
// missing counts the accounts of a batch that stopped partway, told on a
// last page.
func (s *Server) sendLetters(c *fiber.Ctx, name string, ls []desk.Letter, missing int) error {
	var buf bytes.Buffer
	if err := s.letters.PrintIncomplete(&buf, s.t(c), ls, missing); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "application/pdf")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusOK).Send(buf.Bytes())
}

func (s *Server) batchProps(c *fiber.Ctx, chosen string, errs map[string]string) views.DeskBatchProps {
	agent := agentOf(c)
	t := s.t(c)
	p := views.DeskBatchProps{Base: s.page(c, t.T("desk.batch_title")), Agent: agent.Identifier, Role: string(s.desk.Agent(agent)), Chosen: chosen, Errors: errs}
	for _, pop := range s.school.Populations {
		p.Populations = append(p.Populations, views.DeskPopulation{Key: pop.Key, Label: pop.NameText(t.Lang())})
	}
	return p
}

// deskBatchPage is the form printing a population's letters.
func (s *Server) deskBatchPage(c *fiber.Ctx) error {
	return render(c, fiber.StatusOK, views.DeskBatch(s.batchProps(c, "", nil)))
}

// deskBatch prints a letter for each pending account of a population.
func (s *Server) deskBatch(c *fiber.Ctx) error {
	var f deskCurrentForm
	if err := c.BodyParser(&f); err != nil || s.validate.Struct(f) != nil {
		return fiber.ErrBadRequest
	}
	t := s.t(c)
	if _, ok := s.school.Population(f.Population); !ok {
		return render(c, fiber.StatusUnprocessableEntity, views.DeskBatch(s.batchProps(c, "", words(t, "desk", refusal.List{}.Add("population", refusal.Invalid)))))
	}
	ls, l, err := s.desk.IssueBatch(c.UserContext(), agentOf(c), f.Population, f.Current, c.IP())
	missing, err := s.incomplete(ls, err)
	if err != nil {
		return deskAnswer(err)
	}
	if len(l) > 0 {
		return render(c, fiber.StatusUnprocessableEntity, views.DeskBatch(s.batchProps(c, f.Population, words(t, "desk", l))))
	}
	if len(ls) == 0 {
		return render(c, fiber.StatusUnprocessableEntity, views.DeskBatch(s.batchProps(c, f.Population, map[string]string{"population": t.T("desk.batch_none")})))
	}
	return s.sendLetters(c, "lettres-"+f.Population+".pdf", ls, missing)
}

// incomplete sorts a batch's error: one that stopped partway after issuing
// letters is logged, and the letters are printed all the same (their
// accounts open with nothing else), with the count of those missing.
func (s *Server) incomplete(ls []desk.Letter, err error) (int, error) {
	inc, ok := errors.AsType[*desk.IncompleteError](err)
	if !ok || len(ls) == 0 {
		return 0, err
	}
	s.log.Error("desk: batch of letters stopped partway", "printed", len(ls), "missing", inc.Missing, "err", inc.Err)
	return inc.Missing, nil
}
