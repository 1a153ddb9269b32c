#ifndef CLOCK_AGENT_CYAML_SHIM_H
#define CLOCK_AGENT_CYAML_SHIM_H

// libyaml's parser (Debian's libyaml-dev). How it is linked is AgentConfig's `staticInRelease("yaml")`.
#include <yaml.h>

#endif
