package web

import (
	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/frontend/views"
)

// loginPage shows the sign-in form.
func (s *Server) loginPage(c *fiber.Ctx) error {
	p := views.LoginProps{Base: s.page(c, s.t(c).T("login.title")), Step: s.resumeStep(c)}
	return render(c, fiber.StatusOK, views.Login(p))
}
