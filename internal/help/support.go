package help

// ProblemTypes are what a maker's request for help can be about, the
// first choice of Ask for help.
var ProblemTypes = []string{"failed_run", "connection", "building_a_flow", "notifications", "account", "other"}

// Categories narrow a request: the diagnosis classes, then the areas of
// the product.
var Categories = []string{"auth", "config", "throttled", "transient", "flow", "webhooks", "schedules", "email", "limits", "other"}

// categoryWords are what a category adds to a question: the words of its
// articles' titles.
var categoryWords = map[string]string{
	"auth": "auth", "config": "config", "throttled": "throttled ratelimit", "transient": "transient",
	"flow": "flow expression", "webhooks": "webhook respond", "schedules": "schedule cron",
	"email": "email repair notification", "limits": "limits",
}
