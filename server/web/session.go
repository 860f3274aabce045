package web

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/session"
)

// cookieName is the name of one of Sésame's cookies: behind HTTPS the
// __Host- prefix forbids a sub-domain from setting or widening it (the
// session, and the recovery and activation flows alike).
func (s *Server) cookieName(base string) string {
	if s.secure {
		return "__Host-" + base
	}
	return base
}

// sessionCookie names the signed-in cookie. When forward-auth protects
// other hosts of the school's domain, the cookie must reach them, which
// the __Host- prefix forbids: it is then __Secure- and scoped to that
// domain.
func (s *Server) sessionCookie() string {
	if s.cookieDomain() == "" {
		return s.cookieName("sesame_session")
	}
	if s.secure {
		return "__Secure-sesame_session"
	}
	return "sesame_session"
}

// cookieDomain is forward-auth's cookie domain, or "" for this host only.
func (s *Server) cookieDomain() string {
	if s.clients == nil {
		return ""
	}
	return s.clients.ForwardAuth().CookieDomain
}

// startSession signs an account in on this browser: a new token every
// time, and the previous session of this browser, if any, ends.
func (s *Server) startSession(c *fiber.Ctx, accountID string) error {
	if old := c.Cookies(s.sessionCookie()); old != "" {
		_ = s.sessions.End(c.UserContext(), old)
	}
	token, _, err := s.sessions.Create(c.UserContext(), accountID)
	if err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{
		Name: s.sessionCookie(), Value: token, Path: "/", Domain: s.cookieDomain(), HTTPOnly: true, Secure: s.secure,
		SameSite: fiber.CookieSameSiteLaxMode, SessionOnly: true,
	})
	return nil
}

func (s *Server) clearSession(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{Name: s.sessionCookie(), Value: "", Path: "/", Domain: s.cookieDomain(), MaxAge: -1,
		HTTPOnly: true, Secure: s.secure, SameSite: fiber.CookieSameSiteLaxMode})
}

// clearCookie deletes one of Sésame's cookies, with the attributes it was
// set with (a browser keeps a cookie cleared with other ones).
func (s *Server) clearCookie(c *fiber.Ctx, name string) {
	c.Cookie(&fiber.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
		HTTPOnly: true, Secure: s.secure, SameSite: fiber.CookieSameSiteLaxMode})
}

// signedIn returns the session and account of this browser, if signed in.
func (s *Server) signedIn(c *fiber.Ctx) (session.Session, account.Account, bool, error) {
	sess, err := s.sessions.Resolve(c.UserContext(), c.Cookies(s.sessionCookie()))
	if errors.Is(err, session.ErrNotFound) {
		return session.Session{}, account.Account{}, false, nil
	}
	if err != nil {
		return session.Session{}, account.Account{}, false, err
	}
	acc, err := s.accounts.GetAccount(c.UserContext(), sess.AccountID)
	if errors.Is(err, account.ErrNotFound) {
		return session.Session{}, account.Account{}, false, nil
	}
	if err != nil {
		return session.Session{}, account.Account{}, false, err
	}
	return sess, acc, true, nil
}
