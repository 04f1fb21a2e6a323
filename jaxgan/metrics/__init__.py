"""Metrics of generative models: FID, Inception Score, KID, precision/recall on the FID Inception network; per-image
L1, PSNR and SSIM for paired translation.

Nothing heavy happens at import time; weights load when an extractor is built.
"""
from jaxgan.metrics.pipeline import FeatureExtractor
from jaxgan.metrics.pipeline import extract_features
from jaxgan.metrics.pipeline import features_from_generator
from jaxgan.metrics.pipeline import fid
from jaxgan.metrics.pipeline import fid_from_stats
from jaxgan.metrics.pipeline import inception_extractor
from jaxgan.metrics.pipeline import stats_from_generator
from jaxgan.metrics.pipeline import stats_from_images
from jaxgan.metrics.frechet import frechet_distance
from jaxgan.metrics.image import l1_error
from jaxgan.metrics.image import psnr
from jaxgan.metrics.image import ssim
from jaxgan.metrics.inception import InceptionV3FID
from jaxgan.metrics.iscore import inception_score
from jaxgan.metrics.kid import kernel_inception_distance
from jaxgan.metrics.improved_pr import precision_recall
from jaxgan.metrics.modes import preprocess
from jaxgan.metrics.stats import Stats
from jaxgan.metrics.stats import load_stats
from jaxgan.metrics.stats import save_stats
from jaxgan.metrics.weights import download_weights
from jaxgan.metrics.weights import inception_params_from_arrays
from jaxgan.metrics.weights import load_inception_params
from jaxgan.metrics.weights import random_inception_params
from jaxgan.metrics.weights import read_torch_state_dict
