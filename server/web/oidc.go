package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/sesame-edu/sesame/frontend/views"
	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/clients"
	"github.com/sesame-edu/sesame/server/oidc"
	"github.com/sesame-edu/sesame/server/paths"
)

// OpenID is the OpenID Connect provider (server/oidc) as the web layer
// drives it: its protocol endpoints, and the two steps that need Sésame's
// session.
type OpenID interface {
	Handler() http.Handler
	Pending(ctx context.Context, id string) (oidc.Pending, error)
	Complete(ctx context.Context, id string, acc account.Account, locale string, authTime time.Time) (string, error)
	Refuse(ctx context.Context, id, reason string) (string, error)
	EndSessionStep(q url.Values) (oidc.EndSession, bool)
}

// oidcEndpoints are op's endpoints that other servers call (no cookie, no
// CSRF token: client authentication or a bearer token instead).
var oidcEndpoints = []string{paths.OIDCDiscovery, paths.OIDCKeys, paths.OIDCToken, paths.OIDCUserinfo,
	paths.OIDCRevoke, paths.OIDCIntrospect}

// oidcBrowserEndpoints are op's endpoints a browser visits.
var oidcBrowserEndpoints = []string{paths.OIDCAuthorize, paths.OIDCAuthorizeCallback, paths.OIDCEndSession}

// oidcProtocol hands a request to op, with the client's address (worked
// out behind the trusted proxies) in its context for the audit.
func (s *Server) oidcProtocol() fiber.Handler {
	h := adaptor.HTTPHandler(s.openid.Handler())
	return func(c *fiber.Ctx) error {
		c.Context().SetUserValue(oidc.ClientIPKey(), clientIP(c))
		return h(c)
	}
}

// oidcBrowser is oidcProtocol for the endpoints a browser visits: op
// answers a request it cannot send back to the application (an unknown
// client, a redirect_uri not registered) with a bare 400 in English; the
// person gets Sésame's page in their language instead, and never a
// redirect.
func (s *Server) oidcBrowser() fiber.Handler {
	h := s.oidcProtocol()
	return func(c *fiber.Ctx) error {
		if err := h(c); err != nil {
			return err
		}
		if c.Response().StatusCode() != fiber.StatusBadRequest {
			return nil
		}
		c.Response().ResetBody()
		return s.oidcInvalid(c)
	}
}

// oidcInvalid is the page of an application's request that cannot be
// answered: not sent back to the application, whose address is not
// trusted.
func (s *Server) oidcInvalid(c *fiber.Ctx) error {
	t := s.t(c)
	title := t.T("oidc.invalid.title")
	p := views.ErrorProps{Base: s.page(c, title), Status: fiber.StatusBadRequest, Title: title, Body: t.T("oidc.invalid.body", "System", s.school.Letters.Name)}
	return render(c, fiber.StatusBadRequest, views.Error(p))
}

// oidcLogin is the sign-in step of an authorization request (op's login
// URL, and the continuation after the sign-in page). A person signed in
// recently enough passes straight through (single sign-on); anyone else
// signs in first, unless the application asked for no page at all
// (prompt=none), which gets login_required. A person whose population the
// application does not admit gets the refusal page, never a code.
func (s *Server) oidcLogin(c *fiber.Ctx) error {
	ctx := c.UserContext()
	id := c.Query("id")
	pd, err := s.openid.Pending(ctx, id)
	if errors.Is(err, oidc.ErrNotFound) {
		return s.oidcInvalid(c)
	}
	if err != nil {
		return err
	}
	cl, ok := s.client(pd.ClientID)
	if !ok {
		return s.oidcInvalid(c)
	}
	sess, acc, signedIn, err := s.signedIn(c)
	if err != nil {
		return err
	}
	if !signedIn || !pd.Fresh(sess.CreatedAt, s.now()) {
		if pd.None {
			to, err := s.openid.Refuse(ctx, id, oidc.LoginRequired)
			if err != nil {
				return err
			}
			return c.Redirect(to, fiber.StatusSeeOther)
		}
		to := SignInURL(cl.ID, paths.OIDCLogin+"?id="+url.QueryEscape(id), signedIn)
		if pd.LoginHint != "" && len(pd.LoginHint) <= 254 {
			to += "&identifier=" + url.QueryEscape(pd.LoginHint)
		}
		return c.Redirect(to, fiber.StatusSeeOther)
	}
	if !cl.Admits(acc.Population) {
		if _, err := s.openid.Refuse(ctx, id, oidc.AccessDenied); err != nil {
			return err
		}
		return s.refuseClient(c, cl)
	}
	to, err := s.openid.Complete(ctx, id, acc, s.t(c).Lang(), sess.CreatedAt)
	if err != nil {
		return err
	}
	return c.Redirect(to, fiber.StatusSeeOther)
}

// endSessionFields are the signed parameters of the sign-out step
// (oidc.Provider.EndSessionStep checks them), carried from the GET to the
// confirmation's POST.
var endSessionFields = []string{"to", "exp", "sub", "client", "sig"}

// oidcEndSession ends Sésame's session when an application asks (RP-
// Initiated Logout) and goes on to the address op validated. The session
// ends at once only when the application proved whose it is (an
// id_token_hint of the person signed in); otherwise the person is asked
// (oidcEndSessionConfirm): a link on another site must not sign people
// out, and an application that sent no hint must not silently fail to.
func (s *Server) oidcEndSession(c *fiber.Ctx) error {
	q, err := url.ParseQuery(string(c.Request().URI().QueryString()))
	if err != nil {
		return s.oidcInvalid(c)
	}
	es, ok := s.openid.EndSessionStep(q)
	if !ok {
		return s.oidcInvalid(c)
	}
	_, acc, signedIn, err := s.signedIn(c)
	if err != nil {
		return err
	}
	if !signedIn {
		return c.Redirect(es.To, fiber.StatusSeeOther)
	}
	if es.Subject != "" && acc.Subject == es.Subject {
		return s.endSessionAndGo(c, es.To)
	}
	t := s.t(c)
	p := views.OIDCEndSessionProps{Base: s.page(c, t.T("oidc.end_session.title", "System", s.school.Letters.Name)), Name: acc.FullName(),
		Action: paths.OIDCEndSessionStep, Stay: es.To}
	if p.Name == "" {
		p.Name = acc.Identifier
	}
	if cl, ok := s.client(es.ClientID); ok {
		p.App = clients.Name(cl, t.Lang())
	}
	for _, k := range endSessionFields {
		if v := q.Get(k); v != "" {
			p.Step = append(p.Step, views.HiddenField{Name: k, Value: v})
		}
	}
	// The page must not be framed or cached: its button signs out.
	c.Set(fiber.HeaderCacheControl, "no-store")
	return render(c, fiber.StatusOK, views.OIDCEndSession(p))
}

// oidcEndSessionConfirm is the person's « Me déconnecter » on that page: the
// form carries the CSRF token and the step's signed parameters, checked
// again, so that neither another site nor an edited form can use it to send
// the browser anywhere but the address op validated.
func (s *Server) oidcEndSessionConfirm(c *fiber.Ctx) error {
	q := url.Values{}
	for _, k := range endSessionFields {
		if v := c.FormValue(k); v != "" {
			q.Set(k, v)
		}
	}
	es, ok := s.openid.EndSessionStep(q)
	if !ok {
		return s.oidcInvalid(c)
	}
	return s.endSessionAndGo(c, es.To)
}

// endSessionAndGo ends Sésame's session (every application is told through
// the session's SignOut listeners) and goes on to to.
func (s *Server) endSessionAndGo(c *fiber.Ctx, to string) error {
	if err := s.sessions.End(c.UserContext(), c.Cookies(s.sessionCookie())); err != nil {
		return err
	}
	s.clearSession(c)
	return c.Redirect(to, fiber.StatusSeeOther)
}
