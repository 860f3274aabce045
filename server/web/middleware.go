package web

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/server/i18n"
)

// logRequests writes one structured line per request. It logs the path
// without its query string, because mail links carry codes there.
func (s *Server) logRequests(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	status := c.Response().StatusCode()
	if err != nil {
		// The error handler has not run yet; report the status it will use.
		status = statusOf(err)
	}
	s.log.Info("request",
		"id", c.GetRespHeader(fiber.HeaderXRequestID),
		"method", c.Method(),
		"path", c.Path(),
		"status", status,
		"duration_ms", float64(time.Since(start).Microseconds())/1000,
	)
	return err
}

// csp allows only this site's own scripts, styles and images: no inline
// script, so an injected tag cannot run.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; manifest-src 'self'"

// securityHeaders sets strict headers on every response.
func (s *Server) securityHeaders(c *fiber.Ctx) error {
	s.setSecurityHeaders(c)
	return c.Next()
}

// setSecurityHeaders is shared with the error handler, which also answers
// requests refused before any middleware ran (a body too large, a
// malformed request).
func (s *Server) setSecurityHeaders(c *fiber.Ctx) {
	h := &c.Response().Header
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	if s.secure {
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
	// Pages hold personal data: no shared cache may keep them. Assets
	// override this with their own long-lived header.
	h.Set("Cache-Control", "no-store")
}

const langCookie = "sesame_lang"

// language picks the person's language once per request.
func (s *Server) language(c *fiber.Ctx) error {
	c.Locals(localLang, s.cat.Match(c.Cookies(langCookie), c.Get(fiber.HeaderAcceptLanguage)))
	c.Vary(fiber.HeaderAcceptLanguage, fiber.HeaderCookie)
	return c.Next()
}

// lang returns the request's language, French when not yet chosen.
func lang(c *fiber.Ctx) string {
	if l, ok := c.Locals(localLang).(string); ok {
		return l
	}
	return "fr"
}

func (s *Server) t(c *fiber.Ctx) *i18n.Localizer { return s.cat.For(lang(c)) }

// switchLanguage remembers the chosen language and goes back to the page.
func (s *Server) switchLanguage(c *fiber.Ctx) error {
	code := c.Params("code")
	if !i18n.Supported(code) {
		return fiber.ErrNotFound
	}
	c.Cookie(&fiber.Cookie{
		Name: langCookie, Value: code, Path: "/", MaxAge: 365 * 24 * 3600,
		HTTPOnly: true, Secure: s.secure, SameSite: fiber.CookieSameSiteLaxMode,
	})
	return c.Redirect(localPath(c.Query("next")), fiber.StatusSeeOther)
}

// localPath keeps only same-site paths, so that ?next= cannot send
// someone to another site.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return "/"
	}
	return p
}

// onlyGetAndPost answers 405 to any other method: every page is a link or a
// form, so PUT, DELETE and the like can only be probes.
func onlyGetAndPost(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodPost:
		return c.Next()
	}
	c.Set(fiber.HeaderAllow, "GET, HEAD, POST")
	return fiber.ErrMethodNotAllowed
}

// assetHeaders are the headers of built files: no sniffing, same-origin
// use only.
func assetHeaders(c *fiber.Ctx) error {
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Cross-Origin-Resource-Policy", "same-origin")
	return c.Next()
}
