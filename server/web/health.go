package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Public probes say up or down and nothing else. The mail backlog in
// particular must stay private: a recovery request for a known identifier
// queues a mail and one for an unknown identifier does not, so a public
// count would tell anyone which accounts exist. The backlog is logged every
// minute while there is one (mail.Worker), and shown here only to a caller
// bearing SESAME_METRICS_TOKEN.

// healthz answers as long as the process runs.
func (s *Server) healthz(c *fiber.Ctx) error {
	if !s.metricsAllowed(c) {
		return c.JSON(fiber.Map{"status": "ok"})
	}
	return c.JSON(fiber.Map{"status": "ok", "version": s.version})
}

// readyz answers 200 only when the database answers, so that a load
// balancer stops sending people to an instance that cannot serve them.
func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	detailed := s.metricsAllowed(c)
	if err := s.store.Ping(ctx); err != nil {
		out := fiber.Map{"status": "unavailable"}
		if detailed {
			out["store"] = s.kind
		}
		return c.Status(fiber.StatusServiceUnavailable).JSON(out)
	}
	if !detailed {
		return c.JSON(fiber.Map{"status": "ready"})
	}
	out := fiber.Map{"status": "ready", "store": s.kind}
	// SMTP being down does not make the instance unready (mail waits in
	// the outbox), but the backlog is visible to the operator here.
	if s.mail != nil {
		if waiting, age, err := s.mail(ctx); err == nil {
			out["mail"] = fiber.Map{"waiting": waiting, "oldest_age_seconds": int(age.Seconds())}
		}
	}
	return c.JSON(out)
}

// metricsAllowed reports whether the request carries the metrics token as
// a bearer token. Both sides are hashed first, so that the comparison takes
// the same time whatever the length of the guess.
func (s *Server) metricsAllowed(c *fiber.Ctx) bool {
	if s.metricsToken == nil {
		return false
	}
	auth := c.Get(fiber.HeaderAuthorization)
	const prefix = "Bearer "
	if len(auth) < len(prefix) || !strings.EqualFold(auth[:len(prefix)], prefix) {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(auth[len(prefix):])))
	return subtle.ConstantTimeCompare(got[:], s.metricsToken[:]) == 1
}
