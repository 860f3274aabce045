package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/frontend/views"
	"github.com/sesame-edu/sesame/server/cas"
	"github.com/sesame-edu/sesame/server/paths"
)

// casFlag reads a CAS boolean parameter: set unless absent or "false"
// (the protocol says "if this parameter is set").
func casFlag(c *fiber.Ctx, name string) bool {
	v := c.Query(name, "\x00")
	return v != "\x00" && !strings.EqualFold(v, "false")
}

// casSignInWindow is how long after an application's request the sign-in
// it led to counts as a new login (renew, isFromNewLogin): as long as the
// continuation lives, since a detour through the recovery dialog (a code
// by mail) can take a while.
const casSignInWindow = continueMaxAge * time.Second

// casMark is the sign-in marker the continuation carries back to
// /cas/login: when the application's request went to the sign-in page,
// and a MAC over it and the service, so that only a session started after
// that moment counts as a password typed for this request.
func (s *Server) casMark(service string, at time.Time) string {
	t := strconv.FormatInt(at.UnixMilli(), 10)
	m := hmac.New(sha256.New, s.casKey)
	m.Write([]byte(service + "\n" + t))
	return t + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// casFresh reports whether the session started after the marker's moment,
// within casSignInWindow of it.
func (s *Server) casFresh(mark, service string, sessionStart time.Time) bool {
	t, _, ok := strings.Cut(mark, ".")
	ms, err := strconv.ParseInt(t, 10, 64)
	if !ok || err != nil {
		return false
	}
	at := time.UnixMilli(ms)
	if !hmac.Equal([]byte(mark), []byte(s.casMark(service, at))) {
		return false
	}
	return !sessionStart.Before(at) && s.now().Sub(at) <= casSignInWindow
}

// casLogin is the browser's way in (protocol 2.1): a signed-in person
// whose population the application admits goes back to the service with a
// ticket; anyone else signs in first, on Sésame's own page titled with the
// application's name. A service no client of the school's file accepts
// never gets a ticket.
func (s *Server) casLogin(c *fiber.Ctx) error {
	service := c.Query("service")
	if service == "" {
		return c.Redirect(paths.Login, fiber.StatusSeeOther)
	}
	cl, ok := s.clients.Service(service)
	if !ok {
		return s.casUnknownService(c)
	}
	renew, gateway := casFlag(c, "renew"), casFlag(c, "gateway")
	sess, acc, signedIn, err := s.signedIn(c)
	if err != nil {
		return err
	}
	mark := c.Query("signin")
	fresh := signedIn && mark != "" && s.casFresh(mark, service, sess.CreatedAt)
	if !signedIn || (renew && !fresh) {
		// The protocol: gateway never shows a login form (renew overrides it).
		if gateway && !renew {
			return c.Redirect(service, fiber.StatusSeeOther)
		}
		back := url.Values{"service": {service}, "signin": {s.casMark(service, s.now())}}
		if renew {
			back.Set("renew", "true")
		}
		return c.Redirect(SignInURL(cl.ID, paths.CASLogin+"?"+back.Encode(), renew), fiber.StatusSeeOther)
	}
	if !cl.Admits(acc.Population) {
		return s.refuseClient(c, cl)
	}
	ticket, err := s.cas.Issue(c.UserContext(), cl, service, acc, sess.CreatedAt, fresh, clientIP(c))
	if err != nil {
		return err
	}
	// The ticket travels in the address: no page of ours may pass it on.
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Referrer-Policy", "no-referrer")
	return c.Redirect(cas.WithTicket(service, ticket), fiber.StatusSeeOther)
}

// casUnknownService is the page of a service URL that matches no
// application of the school's file.
func (s *Server) casUnknownService(c *fiber.Ctx) error {
	t := s.t(c)
	title := t.T("cas.unknown_service.title")
	p := views.ErrorProps{Base: s.page(c, title), Status: fiber.StatusBadRequest, Title: title, Body: t.T("cas.unknown_service.body", "System", s.school.Letters.Name)}
	return render(c, fiber.StatusBadRequest, views.Error(p))
}

// casLogout ends the Sésame session (protocol 2.3) and, when the
// application names a service to return to, goes there only if it is one
// of the school's applications; else to the signed-out page. Services
// that asked for single logout are told by the session's SignOut listener.
func (s *Server) casLogout(c *fiber.Ctx) error {
	if err := s.sessions.End(c.UserContext(), c.Cookies(s.sessionCookie())); err != nil {
		return err
	}
	s.clearSession(c)
	if to := c.Query("service"); to != "" && s.clients.ReturnAllowed(to, s.base.Scheme) {
		return c.Redirect(to, fiber.StatusSeeOther)
	}
	return c.Redirect(paths.Home+"?signed_out=1", fiber.StatusSeeOther)
}

// casServiceValidate answers /serviceValidate and /p3/serviceValidate
// (protocol 2.5, 2.6): the identifier and the client's attributes, or
// the failure's code. Both release the attributes, as Apereo's CAS does
// for applications (Pronote among them) that read them from the CAS 2.0
// endpoint; the protocol's proxy features (pgtUrl) are not offered.
func (s *Server) casServiceValidate(c *fiber.Ctx) error {
	v, err := s.cas.Validate(c.UserContext(), c.Query("ticket"), c.Query("service"), casFlag(c, "renew"), clientIP(c))
	if err != nil {
		s.log.Error("cas: validation failed", "err", err)
	}
	c.Set(fiber.HeaderContentType, "application/xml; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "no-store")
	if !v.OK() {
		return c.Status(fiber.StatusOK).Send(cas.RenderFailure(v.Code, v.Message))
	}
	return c.Status(fiber.StatusOK).Send(cas.RenderSuccess(cas.SuccessOf(v)))
}

// casValidate is CAS 1.0's validation (protocol 2.4): yes and the
// identifier, or no.
func (s *Server) casValidate(c *fiber.Ctx) error {
	v, err := s.cas.Validate(c.UserContext(), c.Query("ticket"), c.Query("service"), casFlag(c, "renew"), clientIP(c))
	if err != nil {
		s.log.Error("cas: validation failed", "err", err)
	}
	c.Set(fiber.HeaderContentType, "text/plain; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusOK).Send(cas.RenderValidate(v))
}
