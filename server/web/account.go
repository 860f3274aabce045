package web

import (
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/frontend/views"
	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/desk"
	"github.com/sesame-edu/sesame/server/keys"
	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/refusal"
	"github.com/sesame-edu/sesame/server/school"
	"github.com/sesame-edu/sesame/server/session"
)

// accountProps fills the personal page from the account.
func (s *Server) accountProps(c *fiber.Ctx, acc account.Account) views.AccountProps {
	t := s.t(c)
	p := views.AccountProps{
		Base:       s.page(c, t.T("profile.title")),
		Identifier: acc.Identifier, Name: acc.FullName(),
		Email: acc.Email, PendingEmail: acc.PendingEmail, Phone: acc.Phone, Newsletter: acc.Newsletter,
		FormEmail: acc.Email, FormPhone: displayPhone(acc.Phone), FormNewsletter: acc.Newsletter,
		Population: acc.Population,
	}
	if s.desk != nil && s.desk.Agent(acc) != desk.None {
		p.DeskHref = paths.Desk
	}
	if !acc.NewsletterAt.IsZero() {
		key := "profile.newsletter_refused_on"
		if acc.Newsletter {
			key = "profile.newsletter_accepted_on"
		}
		p.NewsletterOn = t.T(key, "Date", s.longDate(t, acc.NewsletterAt.In(s.loc).Format(time.DateOnly)))
	}
	pol := s.school.PolicyOf(acc.Population)
	p.Checklist = checklist(t, pol.Rules(), "", "")
	return p
}

// withChildren adds « Mes enfants » to a guardian's page.
func (s *Server) withChildren(c *fiber.Ctx, acc account.Account, p views.AccountProps) (views.AccountProps, error) {
	children, err := s.profile.Children(c.UserContext(), acc)
	if err != nil {
		return p, err
	}
	for _, ch := range children {
		p.Children = append(p.Children, views.ChildLink{Identifier: ch.Identifier,
			Name: ch.FullName(), Href: paths.AccountChildren + url.PathEscape(ch.ID)})
	}
	return p, nil
}

// displayPhone writes a French E.164 number the French way.
func displayPhone(e164 string) string {
	if strings.HasPrefix(e164, "+33") && len(e164) == 12 {
		d := "0" + e164[3:]
		return d[0:2] + " " + d[2:4] + " " + d[4:6] + " " + d[6:8] + " " + d[8:10]
	}
	return e164
}

// requireSignIn returns the signed-in account, or sends the person to the
// login page.
func (s *Server) requireSignIn(c *fiber.Ctx) (session.Session, account.Account, bool, error) {
	sess, acc, ok, err := s.signedIn(c)
	if err != nil || ok {
		return sess, acc, ok, err
	}
	s.clearSession(c)
	return sess, acc, false, c.Redirect("/", fiber.StatusSeeOther)
}

func (s *Server) accountPage(c *fiber.Ctx) error {
	_, acc, ok, err := s.requireSignIn(c)
	if !ok || err != nil {
		return err
	}
	if s.needsCharter(acc) {
		return c.Redirect("/account/charter", fiber.StatusSeeOther)
	}
	p, err := s.withChildren(c, acc, s.accountProps(c, acc))
	if err != nil {
		return err
	}
	return render(c, fiber.StatusOK, views.Account(p))
}

// childProps fills a guardian's page for one child.
func (s *Server) childProps(c *fiber.Ctx, child account.Account) views.ChildPasswordProps {
	t := s.t(c)
	name := child.FullName()
	return views.ChildPasswordProps{
		Base: s.page(c, t.T("children.page_title", "Name", name)), Action: paths.AccountChildren + url.PathEscape(child.ID),
		Name: name, Identifier: child.Identifier, Population: child.Population,
		Checklist: checklist(t, s.school.PolicyOf(child.Population).Rules(), "", ""),
	}
}

// childPasswordPage is a guardian's form for one child; 404 for an account
// that is not their child.
func (s *Server) childPasswordPage(c *fiber.Ctx) error {
	_, acc, ok, err := s.requireSignIn(c)
	if !ok || err != nil {
		return err
	}
	child, err := s.profile.Child(c.UserContext(), acc, c.Params("id"))
	if errors.Is(err, account.ErrNotFound) {
		return fiber.ErrNotFound
	}
	if err != nil {
		return err
	}
	return render(c, fiber.StatusOK, views.ChildPassword(s.childProps(c, child)))
}

// childPassword sets the child's password.
func (s *Server) childPassword(c *fiber.Ctx) error {
	_, acc, ok, err := s.requireSignIn(c)
	if !ok || err != nil {
		return err
	}
	var f passwordChangeForm
	if err := c.BodyParser(&f); err != nil || s.validate.Struct(f) != nil {
		return fiber.ErrBadRequest
	}
	t := s.t(c)
	// The domain checks that the account is the guardian's child (404
	// otherwise) and returns it for the page.
	res, err := s.profile.SetChildPassword(c.UserContext(), acc, c.Params("id"), f.Current, f.Password, f.Confirm, t.Lang(), c.IP())
	if errors.Is(err, account.ErrNotFound) {
		return fiber.ErrNotFound
	}
	if err != nil {
		return err
	}
	p := s.childProps(c, res.Account)
	if len(res.Refusals) > 0 {
		p.Errors = words(t, "children", res.Refusals)
		if res.Rules != nil {
			p.Checklist = checklist(t, res.Rules, f.Password, f.Confirm)
		}
		return render(c, refusedStatus(res.Refusals), views.ChildPassword(p))
	}
	p.Done = t.T("children.done", "Name", p.Name, "Identifier", p.Identifier)
	return render(c, fiber.StatusOK, views.ChildPassword(p))
}

type profileForm struct {
	Email      string `form:"email" validate:"max=1024"`
	Current    string `form:"current" validate:"max=4096"`
	Phone      string `form:"phone" validate:"max=1024"`
	Newsletter string `form:"newsletter" validate:"omitempty,eq=yes"`
}

// updateAccount saves « Mettre à jour mes coordonnées ».
func (s *Server) updateAccount(c *fiber.Ctx) error {
	_, acc, ok, err := s.requireSignIn(c)
	if !ok || err != nil {
		return err
	}
	var f profileForm
	if err := c.BodyParser(&f); err != nil || s.validate.Struct(f) != nil {
		return fiber.ErrBadRequest
	}
	t := s.t(c)
	res, refused, err := s.profile.Update(c.UserContext(), acc, account.Changes{Email: f.Email, Phone: f.Phone, Newsletter: f.Newsletter == "yes", Current: f.Current}, t.Lang(), c.IP())
	if err != nil {
		return err
	}
	if len(refused) > 0 {
		// Nothing is stored; what was typed stays in the fields (but the
		// password, which is never sent back).
		p := s.accountProps(c, acc)
		p.FormEmail, p.FormPhone, p.FormNewsletter = f.Email, f.Phone, f.Newsletter == "yes"
		p.Errors = words(t, "profile", refused)
		return render(c, refusedStatus(refused), views.Account(p))
	}
	acc, err = s.accounts.GetAccount(c.UserContext(), acc.ID)
	if err != nil {
		return err
	}
	p := s.accountProps(c, acc)
	for _, ch := range res.Changed {
		switch ch {
		case "phone":
			if acc.Phone == "" {
				p.Saved = append(p.Saved, t.T("profile.saved_phone_removed"))
			} else {
				p.Saved = append(p.Saved, t.T("profile.saved_phone", "Phone", displayPhone(acc.Phone)))
			}
		case "newsletter":
			if acc.Newsletter {
				p.Saved = append(p.Saved, t.T("profile.saved_newsletter_on"))
			} else {
				p.Saved = append(p.Saved, t.T("profile.saved_newsletter_off"))
			}
		}
	}
	if res.PendingEmail != "" {
		p.PendingNote = t.T("profile.pending_note", "Email", res.PendingEmail)
	}
	if len(p.Saved) == 0 && p.PendingNote == "" {
		p.Saved = []string{t.T("profile.nothing_changed")}
	}
	return render(c, fiber.StatusOK, views.Account(p))
}

// refusedStatus is the status of a refused form: 429 when it asks to
// wait, 422 otherwise.
func refusedStatus(l refusal.List) int {
	if l.Wait() > 0 {
		return fiber.StatusTooManyRequests
	}
	return fiber.StatusUnprocessableEntity
}

type passwordChangeForm struct {
	Current  string `form:"current" validate:"max=4096"`
	Password string `form:"password" validate:"max=4096"`
	Confirm  string `form:"confirm" validate:"max=4096"`
}

// changePassword is the password form of the personal page.
func (s *Server) changePassword(c *fiber.Ctx) error {
	sess, acc, ok, err := s.requireSignIn(c)
	if !ok || err != nil {
		return err
	}
	var f passwordChangeForm
	if err := c.BodyParser(&f); err != nil || s.validate.Struct(f) != nil {
		return fiber.ErrBadRequest
	}
	t := s.t(c)
	// Guessing the current password is throttled like sign-in, by the
	// domain (account.Profile.ChangePassword).
	res, err := s.profile.ChangePassword(c.UserContext(), acc, f.Current, f.Password, f.Confirm, sess.ID, t.Lang(), c.IP())
	if err != nil {
		return err
	}
	if len(res.Refusals) > 0 {
		p := s.accountProps(c, acc)
		p.PasswordErrors = words(t, "profile", res.Refusals)
		if res.Rules != nil {
			p.Checklist = checklist(t, res.Rules, f.Password, f.Confirm)
		}
		return render(c, refusedStatus(res.Refusals), views.Account(p))
	}
	p := s.accountProps(c, acc)
	p.PasswordDone = t.T("profile.password_done")
	return render(c, fiber.StatusOK, views.Account(p))
}

// confirmEmailPage is the link in the confirmation mail: it shows a button
// and changes nothing.
func (s *Server) confirmEmailPage(c *fiber.Ctx) error {
	c.Set("Referrer-Policy", "no-referrer")
	t := s.t(c)
	token := c.Query("token")
	p := views.ConfirmEmailProps{Base: s.page(c, t.T("profile.confirm_title")), Token: token}
	if ch, err := s.emailChanges.PeekEmailChange(c.UserContext(), keys.HashToken(token)); err == nil {
		p.Valid, p.Email = true, ch.Email
	} else if !errors.Is(err, account.ErrEmailChangeNotFound) {
		return err
	}
	return render(c, fiber.StatusOK, views.ConfirmEmail(p))
}

// confirmEmail applies the new address.
func (s *Server) confirmEmail(c *fiber.Ctx) error {
	c.Set("Referrer-Policy", "no-referrer")
	t := s.t(c)
	token := c.FormValue("token")
	p := views.ConfirmEmailProps{Base: s.page(c, t.T("profile.confirm_title"))}
	acc, err := s.profile.ConfirmEmail(c.UserContext(), token, c.IP())
	if errors.Is(err, account.ErrEmailChangeNotFound) {
		return render(c, fiber.StatusOK, views.ConfirmEmail(p))
	}
	if err != nil {
		return err
	}
	p.Done, p.Message = true, t.T("profile.confirm_done", "Email", acc.Email)
	return render(c, fiber.StatusOK, views.ConfirmEmail(p))
}

// cancelEmailPage is the link mailed to the current address when a change
// is asked: it shows a button and changes nothing (mail scanners prefetch).
func (s *Server) cancelEmailPage(c *fiber.Ctx) error {
	c.Set("Referrer-Policy", "no-referrer")
	t := s.t(c)
	token := c.Query("token")
	p := views.ConfirmEmailProps{Base: s.page(c, t.T("profile.cancel_title")), Token: token, Cancel: true}
	if ch, err := s.emailChanges.PeekEmailChange(c.UserContext(), keys.HashToken(token)); err == nil && ch.Cancels != "" {
		p.Valid, p.Email = true, ch.Email
	} else if err != nil && !errors.Is(err, account.ErrEmailChangeNotFound) {
		return err
	}
	return render(c, fiber.StatusOK, views.ConfirmEmail(p))
}

// cancelEmail voids the pending change.
func (s *Server) cancelEmail(c *fiber.Ctx) error {
	c.Set("Referrer-Policy", "no-referrer")
	t := s.t(c)
	p := views.ConfirmEmailProps{Base: s.page(c, t.T("profile.cancel_title")), Cancel: true}
	_, err := s.profile.CancelEmail(c.UserContext(), c.FormValue("token"), c.IP())
	if errors.Is(err, account.ErrEmailChangeNotFound) {
		return render(c, fiber.StatusOK, views.ConfirmEmail(p))
	}
	if err != nil {
		return err
	}
	p.Done, p.Message = true, t.T("profile.cancel_done")
	return render(c, fiber.StatusOK, views.ConfirmEmail(p))
}

// charterProps words the current charter.
func (s *Server) charterText(lang string) (title string, paras []string, link string) {
	ch := s.school.Charter
	for _, para := range strings.Split(school.Text(ch.Text, lang), "\n") {
		if strings.TrimSpace(para) != "" {
			paras = append(paras, para)
		}
	}
	return school.Text(ch.Title, lang), paras, school.Text(ch.URL, lang)
}

// needsCharter reports whether an account accepted an older charter: a new
// version must be accepted before going on.
func (s *Server) needsCharter(acc account.Account) bool {
	return acc.CharterVersion != "" && acc.CharterVersion != s.school.Charter.Version
}

func (s *Server) charterPage(c *fiber.Ctx) error {
	_, _, ok, err := s.requireSignIn(c)
	if !ok || err != nil {
		return err
	}
	t := s.t(c)
	p := views.CharterProps{Base: s.page(c, t.T("charter.title"))}
	p.CharterTitle, p.CharterText, p.CharterURL = s.charterText(t.Lang())
	return render(c, fiber.StatusOK, views.CharterPage(p))
}

// acceptCharter records the new version and its date.
func (s *Server) acceptCharter(c *fiber.Ctx) error {
	_, acc, ok, err := s.requireSignIn(c)
	if !ok || err != nil {
		return err
	}
	t := s.t(c)
	if c.FormValue("accept") != "yes" {
		p := views.CharterProps{Base: s.page(c, t.T("charter.title")), Error: t.T("activation.err_charter")}
		p.CharterTitle, p.CharterText, p.CharterURL = s.charterText(t.Lang())
		return render(c, fiber.StatusUnprocessableEntity, views.CharterPage(p))
	}
	if err := s.profile.AcceptCharter(c.UserContext(), acc, s.school.Charter.Version, c.IP()); err != nil {
		return err
	}
	return c.Redirect("/account", fiber.StatusSeeOther)
}
