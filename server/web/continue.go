package web

import (
	"encoding/base64"
	"encoding/json"

	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/frontend/views"
	"github.com/sesame-edu/sesame/server/clients"
	"github.com/sesame-edu/sesame/server/paths"
)

// A continuation is where a person goes once signed in, when an
// application sent them to Sésame: the OpenID Connect or CAS endpoint that
// finishes the application's request, or a page behind forward-auth. It
// lives in a cookie for an hour, so that it survives the recovery dialog
// and the activation wizard started from the sign-in page: whatever way
// the person signs in, they land back in the application.
type continuation struct {
	// Client is the application's id in the school's file ("" for
	// forward-auth), for the sign-in page's title.
	Client string `json:"c,omitempty"`
	// To is a path on this site or an allowed absolute URL.
	To string `json:"t"`
}

const continueMaxAge = 3600

func (s *Server) continueCookie() string { return s.cookieName("sesame_continue") }

// SignInURL is the sign-in page that brings a person back to to (a path on
// this site or an allowed URL) once signed in, titled with the client's
// name. The protocol endpoints send browsers there; force asks for the
// password even of a person signed in (OpenID Connect's prompt=login and
// max_age, CAS's renew).
func SignInURL(clientID, to string, force bool) string {
	q := fiber.AcquireArgs()
	defer fiber.ReleaseArgs(q)
	q.Set("continue", to)
	if clientID != "" {
		q.Set("client", clientID)
	}
	if force {
		q.Set("force", "1")
	}
	return paths.Login + "?" + q.String()
}

// allowedTarget reports whether a continuation may send a browser to to:
// a path on this site, or a URL of a configured application or
// forward-auth host. Anything else would be an open redirect.
func (s *Server) allowedTarget(to string) bool {
	if to == "" {
		return false
	}
	if lp := localPath(to); lp != "/" || to == "/" {
		return lp == to
	}
	return s.clients != nil && s.clients.ReturnAllowed(to, s.base.Scheme)
}

// rememberContinuation keeps the sign-in page's ?continue= and ?client=
// for after sign-in, and returns the continuation (zero when there is
// none, or when it is not allowed).
func (s *Server) rememberContinuation(c *fiber.Ctx) continuation {
	k := continuation{Client: c.Query("client"), To: c.Query("continue")}
	if k.To == "" {
		return s.continuation(c)
	}
	if !s.allowedTarget(k.To) {
		return continuation{}
	}
	if _, ok := s.client(k.Client); !ok {
		k.Client = ""
	}
	b, err := json.Marshal(k)
	if err != nil {
		return continuation{}
	}
	c.Cookie(&fiber.Cookie{
		Name: s.continueCookie(), Value: base64.RawURLEncoding.EncodeToString(b), Path: "/",
		MaxAge: continueMaxAge, HTTPOnly: true, Secure: s.secure, SameSite: fiber.CookieSameSiteLaxMode,
	})
	return k
}

// continuation reads the remembered continuation, checked again: the
// school's file may have changed since it was set.
func (s *Server) continuation(c *fiber.Ctx) continuation {
	raw := c.Cookies(s.continueCookie())
	if raw == "" || len(raw) > 6000 {
		return continuation{}
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	var k continuation
	if err != nil || json.Unmarshal(b, &k) != nil || !s.allowedTarget(k.To) {
		return continuation{}
	}
	if _, ok := s.client(k.Client); !ok {
		k.Client = ""
	}
	return k
}

// client returns a configured application.
func (s *Server) client(id string) (clients.Client, bool) {
	if s.clients == nil || id == "" {
		return clients.Client{}, false
	}
	return s.clients.Client(id)
}

// afterSignIn sends a person just signed in to where they were going: the
// application that sent them, or their own page.
func (s *Server) afterSignIn(c *fiber.Ctx) error { return s.goOn(c, s.continuation(c)) }

// goOn sends a signed-in person to k's target, used once, or to their
// own page when there is none.
func (s *Server) goOn(c *fiber.Ctx, k continuation) error {
	if k.To != "" {
		s.clearCookie(c, s.continueCookie())
		return c.Redirect(k.To, fiber.StatusSeeOther)
	}
	return c.Redirect(paths.Account, fiber.StatusSeeOther)
}

// signInTitle is the sign-in page's title: « Connexion à Portail des
// familles » when an application sent the person.
func (s *Server) signInTitle(c *fiber.Ctx, k continuation) string {
	t := s.t(c)
	if cl, ok := s.client(k.Client); ok {
		return t.T("login.title_client", "Name", clients.Name(cl, t.Lang()))
	}
	return t.T("login.title")
}

// refuseClient is the page of a person whose population an application
// does not admit: a clear sentence, and never a code, ticket or token.
func (s *Server) refuseClient(c *fiber.Ctx, cl clients.Client) error {
	t := s.t(c)
	title := t.T("client.refused.title")
	p := views.ErrorProps{Base: s.page(c, title), Status: fiber.StatusForbidden, Title: title,
		Body: t.T("client.refused.body", "Name", clients.Name(cl, t.Lang()))}
	return render(c, fiber.StatusForbidden, views.Error(p))
}
