package web

import (
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/frontend/views"
	"github.com/sesame-edu/sesame/server/account"
)

// loginPage shows the sign-in form; a signed-in person goes on to where
// they were going (an application that sent them, or their page), unless
// the application asked for the password again (?force=1).
func (s *Server) loginPage(c *fiber.Ctx) error {
	k := s.rememberContinuation(c)
	if _, _, ok, err := s.signedIn(c); err != nil {
		return err
	} else if ok && c.Query("force") != "1" {
		// Only an application's own request passes through: a pending
		// continuation waits for the sign-in it was made for.
		if c.Query("continue") == "" {
			k = continuation{}
		}
		return s.goOn(c, k)
	}
	step, err := s.resumeStep(c)
	if err != nil {
		return err
	}
	p := s.loginProps(c, k)
	p.Step = step
	if id := c.Query("identifier"); len(id) <= 254 {
		p.Identifier = id
	}
	if c.Query("signed_out") == "1" {
		p.Notice = s.t(c).T("login.signed_out")
	}
	return render(c, fiber.StatusOK, views.Login(p))
}

// loginProps are the sign-in page's, titled with the application's name
// when one sent the person.
func (s *Server) loginProps(c *fiber.Ctx, k continuation) views.LoginProps {
	title := s.signInTitle(c, k)
	return views.LoginProps{Base: s.page(c, title), Heading: title}
}

type loginForm struct {
	Identifier string `form:"identifier" validate:"max=254"`
	Password   string `form:"password" validate:"max=4096"`
}

// login signs a person in with their identifier or e-mail address.
func (s *Server) login(c *fiber.Ctx) error {
	var f loginForm
	if err := c.BodyParser(&f); err != nil || s.validate.Struct(f) != nil {
		return fiber.ErrBadRequest
	}
	t := s.t(c)
	p := s.loginProps(c, s.continuation(c))
	p.Identifier = strings.TrimSpace(f.Identifier)
	if p.Identifier == "" || f.Password == "" {
		p.Error = t.T("login.err_missing")
		return render(c, fiber.StatusUnprocessableEntity, views.Login(p))
	}
	res, err := s.auth.SignIn(c.UserContext(), p.Identifier, f.Password, c.IP())
	if err != nil {
		return err
	}
	switch res.Outcome {
	case account.SignedIn:
		if err := s.startSession(c, res.Account.ID); err != nil {
			return err
		}
		return s.afterSignIn(c)
	case account.Pending:
		p.Error = t.T("login.pending")
		p.Activate = "/activation?identifier=" + url.QueryEscape(res.Account.Identifier)
		return render(c, fiber.StatusOK, views.Login(p))
	case account.Choose:
		for _, a := range res.Choices {
			p.Choices = append(p.Choices, views.AccountChoice{ID: a.ID, Identifier: a.Identifier, Name: a.FullName()})
		}
		return render(c, fiber.StatusOK, views.Login(p))
	case account.Throttled:
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(res.RetryAfter.Seconds()))))
		p.Error = waitMessage(t, res.RetryAfter.Seconds())
		return render(c, fiber.StatusTooManyRequests, views.Login(p))
	}
	// One message for a wrong identifier and a wrong password alike.
	p.Error = t.T("login.invalid")
	return render(c, fiber.StatusOK, views.Login(p))
}

// waitMessage words a wait in seconds or minutes.
func waitMessage(t interface{ T(string, ...any) string }, secs float64) string {
	return waitMessageIn(t, "login.throttled", secs)
}

// waitMessageIn words a wait with the messages prefix_seconds and
// prefix_minutes.
func waitMessageIn(t interface{ T(string, ...any) string }, prefix string, secs float64) string {
	if secs < 90 {
		n := int(math.Ceil(secs))
		return t.T(prefix+"_seconds", "N", n, "Count", n)
	}
	n := int(math.Ceil(secs / 60))
	return t.T(prefix+"_minutes", "N", n, "Count", n)
}

// logout ends the session for good, on the server too.
func (s *Server) logout(c *fiber.Ctx) error {
	if err := s.sessions.End(c.UserContext(), c.Cookies(s.sessionCookie())); err != nil {
		return err
	}
	s.clearSession(c)
	return c.Redirect("/?signed_out=1", fiber.StatusSeeOther)
}
