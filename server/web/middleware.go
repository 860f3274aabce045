package web

import (
	"net/url"
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

// maxNext bounds ?next=: the pages that build it have short addresses, and
// a longer value can only be a probe.
const maxNext = 2048

// localPath returns p, re-encoded, when it is a path on this site, and "/"
// otherwise, so that ?next= cannot send someone to another site.
//
// Browsers do not read a Location the way net/url does: they remove ASCII
// tab, CR and LF anywhere, strip leading and trailing C0 controls and
// spaces, and take a backslash for a slash, so "/<TAB>/evil.example" and
// "/\evil.example" both leave the site although net/url sees a path. Rather
// than predict what a browser makes of such bytes, a value holding any of
// them is refused; what remains must parse to a bare path (no scheme, host
// or user) that starts with exactly one slash, before and after decoding.
// The answer is rebuilt from the parsed URL, so that what the browser
// receives is what was checked.
func localPath(p string) string {
	if len(p) > maxNext || !singleSlash(p) {
		return "/"
	}
	for i := 0; i < len(p); i++ {
		// C0 controls, DEL and the backslash have no place in a path this
		// site builds; a space at either end is what browsers strip.
		if b := p[i]; b < 0x20 || b == 0x7f || b == '\\' {
			return "/"
		}
	}
	if p[len(p)-1] == ' ' {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Opaque != "" || u.User != nil || u.Host != "" || !singleSlash(u.Path) {
		return "/"
	}
	out := &url.URL{Path: u.Path, RawPath: u.RawPath}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return "/"
		}
		out.RawQuery = q.Encode()
	}
	// The fragment is dropped: the pages never put one in ?next=, since
	// the browser does not send it to the server.
	s := out.String()
	if !singleSlash(s) {
		return "/"
	}
	return s
}

// singleSlash reports whether p starts with one slash that is not followed
// by another slash or a backslash, which browsers would read as the start
// of another site's address.
func singleSlash(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") && !strings.HasPrefix(p, "/\\")
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
