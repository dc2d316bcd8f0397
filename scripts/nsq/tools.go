//go:build tools

// Package tools pins the NSQ daemons HarborHook's tests and native stack use, and
// nsq_to_http, the reference `harborctl bench --compare-nsq-to-http` measures against.
//
// `go install github.com/nsqio/nsq/apps/nsqd@v1.3.0` needs the module's version list
// from the proxy, which is refused on the build machines, and it ignores nsq's own
// replace directive. Installing from inside this module avoids both:
//
//	cd scripts/nsq && GOBIN=<dir> go install github.com/nsqio/nsq/apps/nsqd \
//	    github.com/nsqio/nsq/apps/nsqlookupd github.com/nsqio/nsq/apps/nsqadmin \
//	    github.com/nsqio/nsq/apps/nsq_to_http
//
// scripts/bootstrap does exactly that.
package tools

import (
	_ "github.com/nsqio/nsq/apps/nsqadmin"
	_ "github.com/nsqio/nsq/apps/nsqd"
	_ "github.com/nsqio/nsq/apps/nsq_to_http"
	_ "github.com/nsqio/nsq/apps/nsqlookupd"
)
