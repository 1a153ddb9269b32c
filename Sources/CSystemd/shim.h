#ifndef CLOCK_AGENT_CSYSTEMD_SHIM_H
#define CLOCK_AGENT_CSYSTEMD_SHIM_H

#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <systemd/sd-login.h>

#endif
