"""Figures, the interactive explorer, and the Markdown behind RESULTS.md.

Figure functions return a matplotlib Figure (`neuron`, `operators`, `conversion`); `show`
writes one as a PNG and shows it in the notebook. `report` rebuilds RESULTS.md from
results/*.json (`python -m mbe.viz.report`). The explorer (`explorer`, needing ipywidgets) is
imported on first use through `mbe.explore`.
"""
from .conversion import (plot_cosine_by_configuration, plot_cosine_vs_timesteps, plot_error_growth,
                         plot_operation_errors, plot_site_inputs)
from .display import show
from .neuron import (plot_abs_error, plot_contributions, plot_edi, plot_error_heatmap,
                     plot_fit, plot_gso, plot_histories, plot_kernels, plot_nt_heatmap,
                     plot_partial, plot_raster, plot_step_error, plot_table_vii, plot_table_x)
from .paper_figures import plot_energy_conventions, plot_fig6b, plot_rows, plot_timestep_sweep
from .operators import (plot_attribution, plot_basis_sweep, plot_error_vs_t, plot_fig6a,
                        plot_firing_rates, plot_primitive_steps, plot_row, plot_step_errors)

__all__ = ["show", "plot_kernels", "plot_raster", "plot_fit", "plot_partial",
           "plot_step_error", "plot_error_heatmap", "plot_contributions", "plot_abs_error",
           "plot_gso", "plot_histories", "plot_edi", "plot_table_x", "plot_table_vii",
           "plot_nt_heatmap", "plot_fig6a", "plot_error_vs_t", "plot_basis_sweep",
           "plot_attribution", "plot_firing_rates", "plot_step_errors", "plot_primitive_steps",
           "plot_row", "plot_error_growth", "plot_cosine_vs_timesteps", "plot_rows",
           "plot_timestep_sweep", "plot_fig6b", "plot_energy_conventions", "plot_site_inputs",
           "plot_operation_errors", "plot_cosine_by_configuration"]
