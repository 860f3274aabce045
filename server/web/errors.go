package web

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/frontend/views"
)

func statusOf(err error) int {
	var fe *fiber.Error
	switch {
	case errors.Is(err, errCSRF):
		return fiber.StatusForbidden
	case errors.As(err, &fe):
		return fe.Code
	}
	return fiber.StatusInternalServerError
}

// handleError turns any error into a friendly page in the person's
// language. It is the one place where unexpected errors are logged.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	status := statusOf(err)
	if status == fiber.StatusInternalServerError {
		// When the database is down, say so: the person should come back
		// later rather than think they did something wrong.
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		if perr := s.store.Ping(ctx); perr != nil {
			status = fiber.StatusServiceUnavailable
		}
		s.log.Error("request failed", "id", c.GetRespHeader(fiber.HeaderXRequestID), "path", c.Path(), "status", status, "err", err)
	}
	if status == fiber.StatusServiceUnavailable {
		c.Set(fiber.HeaderRetryAfter, "60")
	}
	s.setSecurityHeaders(c)
	key := "error.500"
	switch status {
	case 400, 403, 404, 405, 413, 429, 503:
		key = "error." + strconv.Itoa(status)
	}
	if c.Locals(localLang) == nil {
		c.Locals(localLang, s.cat.Match(c.Cookies(langCookie), c.Get(fiber.HeaderAcceptLanguage)))
	}
	t := s.t(c)
	p := views.ErrorProps{Base: s.page(c, t.T(key+".title")), Status: status, Title: t.T(key + ".title"), Body: t.T(key + ".body")}
	return render(c, status, views.Error(p))
}
