package web

import (
	"net/url"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/frontend/views"
	"github.com/sesame-edu/sesame/server/i18n"
)

// render writes a templ component as the HTML response.
func render(c *fiber.Ctx, status int, comp templ.Component) error {
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return comp.Render(c.UserContext(), c.Response().BodyWriter())
}

// page fills the props every page shares.
func (s *Server) page(c *fiber.Ctx, title string) views.Base {
	t := s.t(c)
	csrf, _ := c.Locals(localCSRF).(string)
	here := c.OriginalURL()
	var langs []views.LangLink
	for _, code := range i18n.Languages() {
		langs = append(langs, views.LangLink{
			Code:    code,
			Label:   s.cat.For(code).T("lang.name"),
			Href:    "/lang/" + code + "?next=" + url.QueryEscape(here),
			Current: code == t.Lang(),
		})
	}
	return views.Base{
		T:          t,
		School:     views.School{Name: s.school.School.Name, LogoURL: s.school.School.LogoURL, System: s.school.Letters.Name},
		HelpURL:    "/help",
		PrivacyURL: s.privacyURL(),
		Assets: views.Assets{
			CSS: s.assets.url("app.css"),
			JS:  s.assets.url("app.js"), HTMX: s.assets.url("htmx.min.js"),
			Favicon: s.favicon,
		},
		CSRF:      csrf,
		Languages: langs,
		Title:     title,
	}
}

// isHTMX reports whether the request comes from HTMX, which wants a
// fragment rather than a whole page.
func isHTMX(c *fiber.Ctx) bool { return c.Get("HX-Request") == "true" }

// privacyURL is the school's own notice when configured, else Sésame's.
func (s *Server) privacyURL() string {
	if u := s.school.School.PrivacyURL; u != "" {
		return u
	}
	return "/privacy"
}
