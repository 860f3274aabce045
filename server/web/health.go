package web

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
)

// healthz answers as long as the process runs.
func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok", "version": s.version})
}

// readyz answers 200 only when the database answers, so that a load
// balancer stops sending people to an instance that cannot serve them.
func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "store": s.kind})
	}
	out := fiber.Map{"status": "ready", "store": s.kind}
	// SMTP being down does not make the instance unready (mail waits in
	// the outbox), but the backlog is visible here.
	if s.mail != nil {
		if waiting, age, err := s.mail(ctx); err == nil {
			out["mail"] = fiber.Map{"waiting": waiting, "oldest_age_seconds": int(age.Seconds())}
		}
	}
	return c.JSON(out)
}
