package web

import (
	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/frontend/views"
)

// privacyPage tells people what Sésame keeps about them, why, for how
// long, and how to exercise their rights (GDPR articles 13 and 15 to 21).
func (s *Server) privacyPage(c *fiber.Ctx) error {
	t := s.t(c)
	p := views.PrivacyProps{Base: s.page(c, t.T("privacy.title")), School: s.school.School.Name, Contact: s.school.Support.Email}
	for _, k := range []string{"data", "recovery", "retention", "rights"} {
		sec := views.PrivacySection{Heading: t.T("privacy." + k + ".heading")}
		for _, n := range []string{"1", "2", "3"} {
			if para := t.T("privacy." + k + "." + n); para != "privacy."+k+"."+n {
				sec.Paras = append(sec.Paras, para)
			}
		}
		p.Sections = append(p.Sections, sec)
	}
	return render(c, fiber.StatusOK, views.Privacy(p))
}
