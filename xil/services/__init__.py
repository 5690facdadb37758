"""Use cases: what the pages, the CLI and the tests call. Each function owns its transaction.

In tiers, each importing only those below (an import-linter contract keeps it so):
- stores: :mod:`.catalog` (projects, examples), :mod:`.versions` (model versions, one loader cache),
  :mod:`.feedback_store` (current feedback, masks, words, history), :mod:`.accounts` (users,
  memberships, sign-in); below them :mod:`.access` (roles, permission checks, the audit log);
- work: :mod:`.adapters` (one per task: image, text, ranking), :mod:`.revision` (RiT corpus) and
  :mod:`.assignment` (overlap, leases); above them :mod:`.explanations`, :mod:`.queue`,
  :mod:`.judgements`, :mod:`.evaluation`, :mod:`.training`, :mod:`.ranking`, :mod:`.export`,
  :mod:`.imports`, :mod:`.agreement`, :mod:`.review`; between them :mod:`.progress` (done, left, rates);
- :mod:`.demo`: seeding the demo projects.
"""

from db import DatabaseSetupError
from xil.config import freeze_startup_objects
from xil.data.text import file_columns as text_file_columns
from xil.limits import limits as upload_limits
from xil.ranking.generate import GenerationConfig
from xil.ranking.prompts import PromptFileError
from xil.services import accounts, comparison, generation, ranking, review, revision
from xil.services.access import (
    PERMISSION_WHAT,
    ROLES,
    Actor,
    PermissionDenied,
    audit_log,
    can,
    project_role,
    team_mode,
    visible_projects,
)
from xil.services.agreement import agreement
from xil.services.assignment import LEASE_MINUTES, lease, release, set_overlap
from xil.services.catalog import (
    create_project,
    dataset,
    examples,
    get_example,
    get_project,
    list_projects,
    open_database,
    status,
)
from xil.services.demo import seed_demo
from xil.services.evaluation import (
    feedback_hint,
    format_metric,
    load_model,
    method_title,
    method_titles,
    wrong_reason_on_marks,
)
from xil.services.explanations import ExampleView, explain_example, explanation_methods, prefetch
from xil.services.export import export_feedback, export_file_name
from xil.services.feedback_store import (
    annotation_progress,
    compare_candidates,
    count_lacking_reason,
    current_feedback,
    current_judgement,
    feedback_history,
    judged_by,
    load_mask,
    recent_feedback,
)
from xil.services.imports import (
    cifar10_folder,
    import_cifar10,
    import_generator_demo,
    import_image_folder,
    import_mnist,
    import_prompts,
    import_text,
)
from xil.services.judgements import save_feedback
from xil.services.progress import annotator_progress, project_progress, team_progress
from xil.services.queue import (
    STRATEGIES,
    discard_draft,
    load_draft,
    next_examples,
    save_draft,
    skip_example,
    skipped_examples,
    strategy_titles,
    unskip_examples,
)
from xil.services.review import REVIEW_STATUSES, review_counts, review_queue, set_review
from xil.services.training import (
    JOB_HANDLERS,
    architectures,
    cancel_job,
    check_training,
    config_class,
    default_lambda,
    feedback_titles,
    get_job,
    is_backbone,
    list_jobs,
    queue_first_model,
    queue_training,
    register_model,
    run_worker,
    training_plan,
    upscaling_note,
    uses_lambda,
)
from xil.services.versions import get_model_version, latest_model_version, list_model_versions

__all__ = [
    "PERMISSION_WHAT",
    "ROLES",
    "Actor",
    "PermissionDenied",
    "accounts",
    "audit_log",
    "can",
    "project_role",
    "team_mode",
    "visible_projects",
    "JOB_HANDLERS",
    "LEASE_MINUTES",
    "STRATEGIES",
    "DatabaseSetupError",
    "freeze_startup_objects",
    "ExampleView",
    "GenerationConfig",
    "PromptFileError",
    "agreement",
    "annotation_progress",
    "annotator_progress",
    "architectures",
    "is_backbone",
    "cancel_job",
    "check_training",
    "compare_candidates",
    "config_class",
    "count_lacking_reason",
    "create_project",
    "current_feedback",
    "current_judgement",
    "dataset",
    "default_lambda",
    "discard_draft",
    "examples",
    "explain_example",
    "explanation_methods",
    "export_feedback",
    "export_file_name",
    "feedback_titles",
    "feedback_hint",
    "feedback_history",
    "format_metric",
    "get_example",
    "get_job",
    "get_model_version",
    "get_project",
    "import_image_folder",
    "import_mnist",
    "import_cifar10",
    "import_generator_demo",
    "cifar10_folder",
    "import_prompts",
    "import_text",
    "judged_by",
    "latest_model_version",
    "lease",
    "list_jobs",
    "list_model_versions",
    "list_projects",
    "load_draft",
    "load_mask",
    "load_model",
    "method_title",
    "method_titles",
    "next_examples",
    "open_database",
    "prefetch",
    "project_progress",
    "queue_first_model",
    "queue_training",
    "ranking",
    "comparison",
    "generation",
    "recent_feedback",
    "register_model",
    "release",
    "REVIEW_STATUSES",
    "review",
    "review_counts",
    "review_queue",
    "revision",
    "run_worker",
    "save_draft",
    "save_feedback",
    "seed_demo",
    "set_overlap",
    "set_review",
    "skip_example",
    "skipped_examples",
    "status",
    "strategy_titles",
    "team_progress",
    "text_file_columns",
    "training_plan",
    "upscaling_note",
    "unskip_examples",
    "upload_limits",
    "uses_lambda",
    "wrong_reason_on_marks",
]
