"""Use cases: what the pages, the CLI and the tests call. Each function owns its transaction."""

from xil.services.annotate import (
    STRATEGIES,
    ExampleView,
    annotation_progress,
    compare_candidates,
    discard_draft,
    explain_example,
    feedback_history,
    load_draft,
    load_mask,
    next_examples,
    prefetch,
    save_draft,
    save_feedback,
)
from xil.services.export import export_feedback
from xil.services.models import latest_model_version, list_model_versions, load_model
from xil.services.projects import (
    create_project,
    dataset,
    get_project,
    import_image_folder,
    import_mnist,
    list_projects,
    seed_demo,
    status,
)
from xil.services.training import JOB_HANDLERS, cancel_job, get_job, list_jobs, queue_training, run_worker

__all__ = [
    "JOB_HANDLERS",
    "STRATEGIES",
    "ExampleView",
    "compare_candidates",
    "discard_draft",
    "load_draft",
    "load_mask",
    "save_draft",
    "annotation_progress",
    "cancel_job",
    "create_project",
    "dataset",
    "explain_example",
    "export_feedback",
    "feedback_history",
    "get_job",
    "get_project",
    "import_image_folder",
    "import_mnist",
    "latest_model_version",
    "list_jobs",
    "list_model_versions",
    "list_projects",
    "load_model",
    "next_examples",
    "prefetch",
    "queue_training",
    "run_worker",
    "save_feedback",
    "seed_demo",
    "status",
]
