/* Plans as launch descriptions for existing LLM servers (docs/planner.md). */
#ifndef PLAN_EXPORT_H
#define PLAN_EXPORT_H

struct spec_plan;
struct spec_cluster;
struct spec_profile;

/* A shell script of `vllm serve` commands for plan's decoder groups (one server per model of each
 * group, with its devices, parallel sizes, scheduler settings, block size and memory share): a
 * starting point to adapt, not a guarantee. The caller frees *out. MX_EINPUT for a schedule of
 * placements or a group of encoders, naming the plan and group. */
int plan_export_vllm(const struct spec_plan *plan, const struct spec_cluster *cluster,
                     const struct spec_profile *db, const char *db_path, char **out);

#endif
